//! The `routes` table: where to point each sender, and whether it will work.
//!
//! A running `serve` publishes its live table to a hidden status file in the
//! plugins folder after every reload; `routes` shows that when the server is
//! alive, and otherwise loads the folder itself as a dry run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Registry;

/// Hidden, so the plugins watcher ignores it.
pub const STATUS_FILE: &str = ".hookhost-routes.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Row {
    pub route: String,
    pub plugin: String,
    pub kind: String,
    /// The signature scheme (never the secret).
    pub verify: String,
    pub version: String,
    pub secret: String,
    /// The `allowed_outbound_hosts` entries, or `-`.
    #[serde(default = "dash")]
    pub outbound: String,
    pub state: String,
}

/// An empty cell, also for a status file written before `outbound` existed.
fn dash() -> String {
    "-".to_owned()
}

/// What a running server publishes.
#[derive(Debug, Serialize, Deserialize)]
pub struct LiveStatus {
    pub pid: u32,
    /// The process's start time (`/proc/PID/stat`), so a recycled pid is
    /// not mistaken for the server that wrote the file.
    pub started: Option<u64>,
    pub url: String,
    /// The server's admin listener, where `routes` asks first.
    #[serde(default)]
    pub admin: Option<String>,
    pub rows: Vec<Row>,
}

/// One row per route: a plugin serving several routes (an extension, a
/// hook plugin's rules) has several rows.
pub fn rows(registry: &Registry) -> Vec<Row> {
    let mut rows = Vec::new();
    for entry in registry.entries() {
        let routes = match entry.routes.as_slice() {
            [] => vec![dash()],
            routes => routes.to_vec(),
        };
        let version = match &entry.serving {
            Some(p) => format!("gen {} sha256:{}", p.generation, p.hash.short()),
            None => match &entry.file_hash {
                Some(hash) => format!("sha256:{}", hash.short()),
                None => dash(),
            },
        };
        let state = entry.state();
        for route in routes {
            rows.push(Row {
                route,
                plugin: entry.name.clone(),
                kind: entry.kind.map_or_else(dash, |k| k.to_string()),
                verify: entry.verify.clone().unwrap_or_else(dash),
                version: version.clone(),
                secret: entry.secret_source.clone().unwrap_or_else(dash),
                outbound: entry.outbound.clone().unwrap_or_else(dash),
                state: state.clone(),
            });
        }
    }
    rows
}

/// Aligned columns, the state last since it can be long.
pub fn render(rows: &[Row]) -> String {
    let header = [
        "ROUTE", "PLUGIN", "KIND", "VERIFY", "VERSION", "SECRET", "OUTBOUND", "STATE",
    ];
    let cells: Vec<[&str; 8]> = rows
        .iter()
        .map(|r| {
            [
                &*r.route,
                &*r.plugin,
                &*r.kind,
                &*r.verify,
                &*r.version,
                &*r.secret,
                &*r.outbound,
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
        let [padded @ .., last] = row;
        for (cell, w) in padded.iter().zip(widths) {
            let _ = write!(out, "{cell:<w$}  ");
        }
        let _ = writeln!(out, "{last}");
    }
    if rows.is_empty() {
        out.push_str("(no plugins: drop NAME.wasm into the plugins folder)\n");
    }
    out
}

/// Where a server serving `dir` publishes its table.
#[derive(Debug, Clone)]
pub struct StatusFile {
    path: PathBuf,
    pid: u32,
    started: Option<u64>,
    url: String,
    admin: Option<String>,
}

impl StatusFile {
    pub fn new(dir: &Path, url: String, admin: Option<String>) -> Self {
        let pid = std::process::id();
        StatusFile {
            path: dir.join(STATUS_FILE),
            pid,
            started: start_time(pid),
            url,
            admin,
        }
    }

    /// Replaces the file atomically (write, then rename).
    pub async fn publish(&self, registry: &Registry) -> std::io::Result<()> {
        let status = LiveStatus {
            pid: self.pid,
            started: self.started,
            url: self.url.clone(),
            admin: self.admin.clone(),
            rows: rows(registry),
        };
        let json = serde_json::to_vec_pretty(&status).map_err(std::io::Error::other)?;
        // Per process, so two servers on one folder never share a temp file.
        let tmp = self.path.with_extension(format!("json.{}.tmp", self.pid));
        tokio::fs::write(&tmp, json).await?;
        tokio::fs::rename(&tmp, &self.path).await
    }

    /// Removes the file if this process wrote it: another server may have
    /// taken the folder over since.
    pub fn remove(&self) {
        let ours = std::fs::read(&self.path)
            .ok()
            .and_then(|text| serde_json::from_slice::<LiveStatus>(&text).ok())
            .is_some_and(|s| s.pid == self.pid && s.started == self.started);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where a server keeps its admin address for the tools that read its
/// state folder (`deliveries`, `replay`).
pub const ADMIN_FILE: &str = "hookhost-admin.json";

#[derive(Debug, Serialize, Deserialize)]
struct AdminRecord {
    pid: u32,
    started: Option<u64>,
    admin: String,
}

/// Says in `state_dir` where this server's admin listener is; removed
/// by [`forget_admin`] when the server stops.
pub fn publish_admin(state_dir: &Path, admin: &str) -> std::io::Result<()> {
    let pid = std::process::id();
    let record = AdminRecord {
        pid,
        started: start_time(pid),
        admin: admin.to_owned(),
    };
    let json = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
    let path = state_dir.join(ADMIN_FILE);
    let tmp = path.with_extension(format!("json.{pid}.tmp"));
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, &path)
}

/// Removes this process's admin record, leaving another server's.
pub fn forget_admin(state_dir: &Path) {
    let path = state_dir.join(ADMIN_FILE);
    let pid = std::process::id();
    let ours = std::fs::read(&path)
        .ok()
        .and_then(|text| serde_json::from_slice::<AdminRecord>(&text).ok())
        .is_some_and(|r| r.pid == pid && r.started == start_time(pid));
    if ours {
        let _ = std::fs::remove_file(&path);
    }
}

/// The admin address of a live server on `state_dir`, with its pid.
pub fn live_admin(state_dir: &Path) -> Option<(u32, String)> {
    let text = std::fs::read(state_dir.join(ADMIN_FILE)).ok()?;
    let record: AdminRecord = serde_json::from_slice(&text).ok()?;
    let live = record.pid != std::process::id()
        && record.started.is_some()
        && start_time(record.pid) == record.started;
    live.then_some((record.pid, record.admin))
}

/// The table published by a live server for `dir`, if one is running.
pub fn read_live(dir: &Path) -> Option<LiveStatus> {
    let text = std::fs::read(dir.join(STATUS_FILE)).ok()?;
    let status: LiveStatus = serde_json::from_slice(&text).ok()?;
    is_live(&status).then_some(status)
}

/// A crashed server leaves its file behind, and its pid may be reused (in a
/// container, by this very process): only the same live process counts.
fn is_live(status: &LiveStatus) -> bool {
    status.pid != std::process::id()
        && status.started.is_some()
        && start_time(status.pid) == status.started
}

/// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks
/// since boot. `None` where there is no `/proc`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count from its closing ')'.
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(plugin: &str, state: &str) -> Row {
        Row {
            route: format!("POST /pyrus/{plugin}"),
            plugin: plugin.into(),
            kind: "pyrus-bot".into(),
            verify: "pyrus-sig".into(),
            version: "gen 1 sha256:0123456789ab".into(),
            secret: "env X".into(),
            outbound: "-".into(),
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
    fn only_the_process_that_wrote_the_file_is_live() {
        let dir = tempfile::tempdir().unwrap();
        let write = |status: &LiveStatus| {
            std::fs::write(
                dir.path().join(STATUS_FILE),
                serde_json::to_vec(status).unwrap(),
            )
            .unwrap()
        };
        let status = |pid, started| LiveStatus {
            pid,
            started,
            url: "http://x".into(),
            admin: None,
            rows: vec![],
        };
        write(&status(u32::MAX, Some(1)));
        assert!(read_live(dir.path()).is_none());
        // This very process: a reused pid, not the server that wrote it.
        let me = std::process::id();
        write(&status(me, start_time(me)));
        assert!(read_live(dir.path()).is_none());
        // A live process with another start time is not the writer either.
        let parent = std::os::unix::process::parent_id();
        write(&status(parent, start_time(parent).map(|t| t + 1)));
        assert!(read_live(dir.path()).is_none());
        write(&status(parent, start_time(parent)));
        assert!(read_live(dir.path()).is_some());
    }
}
