//! Plugin state for the commands: opening the database for `serve` and
//! `test`, and `hookhost state`, the operator's view of it.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use super::args::{StateAction, StateArgs, StateCmdArgs};
use crate::state::{Bucket, Quota, SqliteStore, StateStore};

/// Opens (creating if needed) the state database for serving `plugins`.
/// The folder is checked and the database opened on a blocking thread: both
/// touch the disk, and SQLite may wait for another process's lock.
pub async fn open(args: &StateArgs, plugins: &Path) -> anyhow::Result<Arc<dyn StateStore>> {
    let dir = args.dir()?;
    let plugins = plugins.to_path_buf();
    let store = tokio::task::spawn_blocking(move || -> anyhow::Result<SqliteStore> {
        // Before anything is created: a state folder inside the plugins
        // folder must not even be made there.
        StateArgs::check_outside(&resolved(&dir), &resolved(&plugins))?;
        let path = SqliteStore::database_path(&dir);
        SqliteStore::open(&dir)
            .with_context(|| format!("cannot open state database at {}", path.display()))
    })
    .await
    .context("opening the state database did not finish")??;
    tracing::info!(database = %store.path().display(), "plugin state");
    Ok(Arc::new(store))
}

/// `path` made absolute with symlinks resolved as far as it exists; the
/// parts that do not exist yet are appended as written.
pub(super) fn resolved(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut existing = path;
    loop {
        if let Ok(real) = existing.canonicalize() {
            return missing.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (existing.components().next_back(), existing.parent()) {
            (Some(Component::Normal(part)), Some(parent)) => {
                missing.push(part.to_owned());
                existing = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
            }
            // `..` past what exists, or a root that does not: compared as given.
            _ => return path.to_path_buf(),
        }
    }
}

/// `hookhost state [list|get|delete]`.
pub async fn run(args: StateCmdArgs) -> anyhow::Result<()> {
    let dir = args.state.dir()?;
    let path = SqliteStore::database_path(&dir);
    // An operator tool looks and does not create: a mistyped folder must
    // not come back as an empty database.
    let exists = tokio::fs::try_exists(&path).await.unwrap_or(false);
    if !exists {
        bail!(
            "no state database at {} (pass the --state-dir the server uses)",
            path.display()
        );
    }
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&dir))
        .await
        .context("opening the state database did not finish")?
        .with_context(|| format!("cannot open state database at {}", path.display()))?;
    // Reads and deletes never meet the quota, which only refuses growth.
    let bucket = |plugin: &str| Bucket::new(plugin, Quota::default());
    let mut out = std::io::stdout().lock();
    match args.action {
        None => {
            let usage = store.usage().await?;
            let width = usage.iter().map(|u| u.plugin.len()).max().unwrap_or(0);
            let width = width.max("PLUGIN".len());
            if usage.is_empty() {
                writeln!(out, "no plugin has state")?;
            } else {
                writeln!(out, "{:<width$}  {:>8}  {:>12}", "PLUGIN", "KEYS", "BYTES")?;
            }
            for u in usage {
                writeln!(out, "{:<width$}  {:>8}  {:>12}", u.plugin, u.keys, u.bytes)?;
            }
        }
        Some(StateAction::List { plugin }) => {
            let bucket = bucket(&plugin);
            let mut cursor = None;
            loop {
                let page = store.list_keys(&bucket, cursor).await?;
                for key in page.keys {
                    writeln!(out, "{}", printable(&key))?;
                }
                cursor = page.cursor;
                if cursor.is_none() {
                    break;
                }
            }
        }
        Some(StateAction::Get { plugin, key }) => {
            let Some(value) = store.get(&bucket(&plugin), key.clone()).await? else {
                bail!("plugin {plugin} has no key {}", printable(&key));
            };
            out.write_all(&value)?;
        }
        Some(StateAction::Delete { plugin, key }) => {
            let bucket = bucket(&plugin);
            if !store.exists(&bucket, key.clone()).await? {
                bail!("plugin {plugin} has no key {}", printable(&key));
            }
            store.delete(&bucket, key.clone()).await?;
            writeln!(out, "deleted {} of plugin {plugin}", printable(&key))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// A key as one line: keys are the plugin's text and may hold newlines or
/// terminal escapes, which are shown escaped.
fn printable(key: &str) -> String {
    if key.chars().any(char::is_control) {
        format!("{key:?}")
    } else {
        key.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_appends_what_does_not_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().canonicalize().unwrap();
        assert_eq!(resolved(tmp.path()), real);
        assert_eq!(resolved(&tmp.path().join("a/b")), real.join("a/b"));
        let inside = resolved(&tmp.path().join("new/state"));
        assert!(inside.starts_with(&real));
    }

    #[test]
    fn keys_with_control_characters_are_escaped() {
        assert_eq!(printable("plain key"), "plain key");
        assert_eq!(printable("a\nb"), "\"a\\nb\"");
    }
}
