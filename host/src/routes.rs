//! The `routes` listing: where to point each sender, and whether it will work.

use std::fmt::Write as _;

use crate::plugins::Registry;

/// One row per plugin, aligned columns, ending in the state.
pub fn render(registry: &Registry) -> String {
    let rows: Vec<[String; 5]> = registry
        .entries()
        .map(|entry| {
            let route = match entry.kind {
                Some(kind) => kind.route(&entry.name),
                None => "-".to_owned(),
            };
            let kind = entry.kind.map_or("-".to_owned(), |k| k.to_string());
            let version = match &entry.serving {
                Some(p) => format!("gen {} sha256:{}", p.generation, short(&p.hash)),
                None if entry.file_hash.is_empty() => "-".to_owned(),
                None => format!("sha256:{}", short(&entry.file_hash)),
            };
            let secret = entry
                .secret_source
                .clone()
                .unwrap_or_else(|| "-".to_owned());
            [
                route,
                entry.name.clone(),
                kind,
                version,
                format!("secret: {secret}; {}", entry.state()),
            ]
        })
        .collect();

    let header = ["ROUTE", "PLUGIN", "KIND", "VERSION", "STATE"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 5]| {
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                let _ = writeln!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<w$}  ", w = widths[i]);
            }
        }
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    if rows.is_empty() {
        out.push_str("(no plugins: drop NAME.wasm into the plugins folder)\n");
    }
    out
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
