//! The `routes` listing: where to point each sender, and whether it will work.
//!
//! A running `serve` publishes its live table to a hidden status file in the
//! plugins folder after every reload; `routes` shows that when the server is
//! alive, and otherwise loads the folder itself as a dry run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plugins::Registry;

/// Hidden, so the plugins watcher ignores it.
pub const STATUS_FILE: &str = ".hookhost-routes.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Row {
    pub route: String,
    pub plugin: String,
    pub kind: String,
    pub version: String,
    pub secret: String,
    pub state: String,
}

/// What a running server publishes.
#[derive(Debug, Serialize, Deserialize)]
pub struct LiveStatus {
    pub pid: u32,
    pub url: String,
    pub rows: Vec<Row>,
}

pub fn rows(registry: &Registry) -> Vec<Row> {
    registry
        .entries()
        .map(|entry| Row {
            route: entry
                .kind
                .map_or_else(|| "-".to_owned(), |kind| kind.route(&entry.name)),
            plugin: entry.name.clone(),
            kind: entry.kind.map_or_else(|| "-".to_owned(), |k| k.to_string()),
            version: match &entry.serving {
                Some(p) => format!("gen {} sha256:{}", p.generation, short(&p.hash)),
                None if entry.file_hash.is_empty() => "-".to_owned(),
                None => format!("sha256:{}", short(&entry.file_hash)),
            },
            secret: entry
                .secret_source
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            state: entry.state(),
        })
        .collect()
}

/// Aligned columns, the state last since it can be long.
pub fn render(rows: &[Row]) -> String {
    let header = ["ROUTE", "PLUGIN", "KIND", "VERSION", "SECRET", "STATE"];
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| {
            [
                &*r.route,
                &*r.plugin,
                &*r.kind,
                &*r.version,
                &*r.secret,
                &*r.state,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&cells) {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                let _ = writeln!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<w$}  ", w = widths[i]);
            }
        }
    }
    if rows.is_empty() {
        out.push_str("(no plugins: drop NAME.wasm into the plugins folder)\n");
    }
    out
}

/// The first 12 hex digits of a hash, as shown to people.
pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Where a server serving `dir` publishes its table.
#[derive(Debug, Clone)]
pub struct StatusFile {
    path: PathBuf,
    pid: u32,
    url: String,
}

impl StatusFile {
    pub fn new(dir: &Path, url: String) -> Self {
        StatusFile {
            path: dir.join(STATUS_FILE),
            pid: std::process::id(),
            url,
        }
    }

    /// Replaces the file atomically (write, then rename).
    pub async fn publish(&self, registry: &Registry) -> std::io::Result<()> {
        let status = LiveStatus {
            pid: self.pid,
            url: self.url.clone(),
            rows: rows(registry),
        };
        let json = serde_json::to_vec_pretty(&status).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        tokio::fs::write(&tmp, json).await?;
        tokio::fs::rename(&tmp, &self.path).await
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The table published by a live server for `dir`, if one is running.
pub fn read_live(dir: &Path) -> Option<LiveStatus> {
    let text = std::fs::read(dir.join(STATUS_FILE)).ok()?;
    let status: LiveStatus = serde_json::from_slice(&text).ok()?;
    is_hookhost(status.pid).then_some(status)
}

/// A crashed server leaves its file behind; only a live hookhost counts.
fn is_hookhost(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| cmdline.windows(8).any(|w| w == b"hookhost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(plugin: &str, state: &str) -> Row {
        Row {
            route: format!("POST /pyrus/{plugin}"),
            plugin: plugin.into(),
            kind: "pyrus-bot".into(),
            version: "gen 1 sha256:0123456789ab".into(),
            secret: "env X".into(),
            state: state.into(),
        }
    }

    #[test]
    fn columns_line_up() {
        let out = render(&[row("a", "serving"), row("longer-name", "not served: why")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = lines[0].find("KIND").unwrap();
        assert!(
            lines
                .iter()
                .skip(1)
                .all(|l| l[col..].starts_with("pyrus-bot")),
            "{out}"
        );
    }

    #[test]
    fn a_dead_pid_is_not_live() {
        let dir = tempfile::tempdir().unwrap();
        let status = LiveStatus {
            pid: u32::MAX,
            url: "http://x".into(),
            rows: vec![],
        };
        std::fs::write(
            dir.path().join(STATUS_FILE),
            serde_json::to_vec(&status).unwrap(),
        )
        .unwrap();
        assert!(read_live(dir.path()).is_none());
    }
}
