//! Watches the plugins folder and rescans it when a plugin or sidecar changes.

use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::Loader;

/// Writes come in bursts (truncate, write, close, rename); wait for the burst
/// to settle so a half-written file is rarely even looked at.
const SETTLE: Duration = Duration::from_millis(50);

/// Keeps the watch alive; dropping it stops watching.
pub struct Watcher {
    _inner: RecommendedWatcher,
    reloads: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Stops watching and waits until no reload is running any more.
    pub async fn stop(mut self) {
        self.reloads.abort();
        let _ = (&mut self.reloads).await;
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.reloads.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch the plugins folder: {0}")]
    Watch(#[from] notify::Error),
    #[error("cannot read the plugins folder: {0}")]
    Read(#[from] std::io::Error),
}

/// Watches `loader`'s folder, loads it once, then reloads through `loader`
/// whenever something in it changes. Watching starts before the first load,
/// so nothing written while that load compiles is missed.
pub async fn watch(mut loader: Loader) -> Result<Watcher, WatchError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut inner = notify::recommended_watcher(move |res: notify::Result<Event>| match res {
        Ok(event) if concerns_plugins(&event) => {
            let _ = tx.send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("watching the plugins folder: {e}"),
    })?;
    inner.watch(loader.dir(), RecursiveMode::NonRecursive)?;
    loader.rescan().await?;

    let reloads = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
            if let Err(e) = loader.rescan().await {
                tracing::error!(dir = %loader.dir().display(), "cannot rescan the plugins folder: {e}");
            }
        }
    });
    Ok(Watcher {
        _inner: inner,
        reloads,
    })
}

fn concerns_plugins(event: &Event) -> bool {
    if matches!(
        event.kind,
        EventKind::Access(
            AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read)
        )
    ) {
        return false;
    }
    // No paths means the watcher lost track (e.g. an overflow): rescan.
    // Any file counts, not only `.wasm` and `.toml`: a secret file kept
    // beside its sidecar (hidden ones and swapped `..data` links included)
    // must reload the plugin too. Only hookhost's own status file and
    // temporary files are left out.
    event.paths.is_empty()
        || event.paths.iter().any(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|name| !is_scratch(name))
        })
}

/// Files that change on their own account and never change a plugin.
fn is_scratch(name: &str) -> bool {
    name.starts_with(super::status::STATUS_FILE)
        || name.starts_with(".#")
        || [".tmp", ".swp", ".swx", "~"]
            .iter()
            .any(|end| name.ends_with(end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(path.into())
    }

    #[test]
    fn visible_files_count_hidden_ones_and_reads_do_not() {
        let write = EventKind::Modify(ModifyKind::Any);
        assert!(concerns_plugins(&event(write, "/p/bot.wasm")));
        assert!(concerns_plugins(&event(write, "/p/bot.toml")));
        assert!(concerns_plugins(&event(write, "/p/bot.secret")));
        assert!(concerns_plugins(&event(write, "/p/.bot.secret")));
        assert!(concerns_plugins(&event(write, "/p/..data")));
        assert!(!concerns_plugins(&event(
            write,
            "/p/.hookhost-routes.json.1234.tmp"
        )));
        assert!(!concerns_plugins(&event(write, "/p/.bot.toml.swp")));
        assert!(concerns_plugins(&event(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            "/p/bot.wasm"
        )));
        assert!(!concerns_plugins(&event(write, "/p/.hookhost-routes.json")));
        assert!(!concerns_plugins(&event(
            EventKind::Create(CreateKind::File),
            "/p/.bot.wasm.tmp"
        )));
        assert!(!concerns_plugins(&event(
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            "/p/bot.wasm"
        )));
        assert!(concerns_plugins(&Event::new(EventKind::Other)));
    }
}
