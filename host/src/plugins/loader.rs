//! Turns the files in the plugins folder into registry entries: reads,
//! hashes, compiles (off the async workers), applies sidecars.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::LoadedPlugin;
use super::registry::{PluginEntry, Registry, SharedRegistry};
use super::sidecar::{SecretSource, SecretState, Settings, sidecar_path};
use crate::routes::StatusFile;
use crate::runtime::{LoadError, PluginKind, Prepared, Runtime, Sandbox};

/// Pyrus gives a bot 60 s; answering after that is answering no one.
const PYRUS_MAX_TIMEOUT: Duration = Duration::from_secs(55);

/// What a plugin's files looked like when last loaded. The secret's digest
/// is part of it, so a rotated secret file or a touched sidecar reloads.
#[derive(PartialEq, Eq)]
struct Fingerprint {
    wasm_hash: String,
    sidecar: Result<Option<String>, String>,
    secret: Option<[u8; 32]>,
}

/// A plugin's files as read from disk.
struct PluginFiles {
    bytes: Vec<u8>,
    fingerprint: Fingerprint,
    settings: Result<Settings, String>,
}

/// Owns the reload state; one task drives it, so no locking is needed.
pub struct Loader {
    runtime: Arc<Runtime>,
    dir: PathBuf,
    registry: SharedRegistry,
    seen: HashMap<String, Fingerprint>,
    /// Compilation results by file hash, so a sidecar edit or a file put
    /// back does not compile again, and a broken file is not retried.
    compiled: HashMap<String, Result<Prepared, LoadError>>,
    generation: u64,
    /// Where a serving process publishes the live `routes` table.
    status: Option<StatusFile>,
}

impl Loader {
    pub fn new(runtime: Arc<Runtime>, dir: PathBuf, registry: SharedRegistry) -> Self {
        Loader {
            runtime,
            dir,
            registry,
            seen: HashMap::new(),
            compiled: HashMap::new(),
            generation: 0,
            status: None,
        }
    }

    /// Publishes the `routes` table to `status` after every rescan.
    pub fn publish_status(mut self, status: StatusFile) -> Self {
        self.status = Some(status);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Brings the registry in line with the folder. Unchanged plugins keep
    /// their entries; a file that fails leaves the version before it serving.
    pub async fn rescan(&mut self) -> std::io::Result<()> {
        let files = plugin_files(&self.dir).await?;
        let current = self.registry.load_full();
        let mut next = BTreeMap::new();

        for (name, wasm) in files {
            let previous = current.get(&name);
            let path = wasm.clone();
            let read = tokio::task::spawn_blocking(move || read_plugin(&path))
                .await
                .map_err(|e| std::io::Error::other(format!("reading plugin files: {e}")))?;
            let files = match read {
                Ok(files) => files,
                // Removed between listing and reading: the next event rescans.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    let problem = format!("cannot read {}: {e}", wasm.display());
                    // Forget the last good read, so the next rescan tries again.
                    self.seen.remove(&name);
                    let entry = kept_or_failed(&name, previous, String::new(), problem);
                    next.insert(name, Arc::new(entry));
                    continue;
                }
            };
            if let Some(previous) = previous
                && self.seen.get(&name) == Some(&files.fingerprint)
            {
                next.insert(name, previous.clone());
                continue;
            }

            let hash = files.fingerprint.wasm_hash.clone();
            let entry = self
                .load(&name, files.bytes, &hash, files.settings, previous)
                .await;
            self.seen.insert(name.clone(), files.fingerprint);
            next.insert(name, Arc::new(entry));
        }

        for gone in current.entries().filter(|e| !next.contains_key(&e.name)) {
            tracing::info!(plugin = %gone.name, "plugin removed");
        }
        self.seen.retain(|name, _| next.contains_key(name));
        // Keep what is on disk and what is serving, so a good file put back
        // after a broken one does not compile again.
        self.compiled.retain(|hash, _| {
            next.values().any(|e: &Arc<PluginEntry>| {
                &e.file_hash == hash || e.serving.as_ref().is_some_and(|p| &p.hash == hash)
            })
        });
        let registry = Arc::new(Registry::new(next));
        self.registry.store(registry.clone());
        if let Some(status) = &self.status
            && let Err(e) = status.publish(&registry).await
        {
            tracing::warn!("cannot publish the routes table for `hookhost routes`: {e}");
        }
        Ok(())
    }

    async fn load(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        hash: &str,
        settings: Result<Settings, String>,
        previous: Option<&Arc<PluginEntry>>,
    ) -> PluginEntry {
        let prepared = match self.compiled.get(hash) {
            Some(done) => done.clone().map_err(|e| e.to_string()),
            None => {
                let runtime = self.runtime.clone();
                let (plugin, file_hash) = (name.to_owned(), hash.to_owned());
                let compiled = tokio::task::spawn_blocking(move || {
                    let component = runtime.load_component(&plugin, &bytes, &file_hash)?;
                    runtime.prepare(&component)
                })
                .await;
                match compiled {
                    // Compile and link results depend only on the bytes: keep them.
                    Ok(done) => {
                        self.compiled.insert(hash.to_owned(), done.clone());
                        done.map_err(|e| e.to_string())
                    }
                    Err(e) => Err(format!("compilation did not finish: {e}")),
                }
            }
        };

        let (prepared, settings) = match (prepared, settings) {
            (Ok(p), Ok(s)) => (p, s),
            (Err(problem), _) | (_, Err(problem)) => {
                return kept_or_failed(name, previous, hash.to_owned(), problem);
            }
        };
        self.configure(name, prepared, settings, hash)
    }

    fn configure(
        &mut self,
        name: &str,
        prepared: Prepared,
        mut settings: Settings,
        hash: &str,
    ) -> PluginEntry {
        let kind = prepared.kind();
        if let Some(SecretSource::Value(_)) = settings.secret_source {
            tracing::warn!(
                plugin = name,
                "sidecar gives the secret inline; prefer `env` or `file`"
            );
        }
        if kind == PluginKind::PyrusBot && settings.timeout > PYRUS_MAX_TIMEOUT {
            tracing::warn!(
                plugin = name,
                "timeout_ms lowered to {} ms: Pyrus waits 60 s at most",
                PYRUS_MAX_TIMEOUT.as_millis()
            );
            settings.timeout = PYRUS_MAX_TIMEOUT;
        }

        let mut entry = PluginEntry {
            name: name.to_owned(),
            serving: None,
            kind: Some(kind),
            file_hash: hash.to_owned(),
            problem: None,
            secret_source: settings.secret_source.as_ref().map(ToString::to_string),
        };
        let secret = match settings.secret {
            SecretState::Ready(secret) => Some(secret),
            SecretState::Unusable(why) => {
                entry.problem = Some(format!("secret unusable: {why}"));
                None
            }
            SecretState::Absent if kind.needs_secret() => {
                entry.problem = Some(format!(
                    "a {kind} plugin needs a secret: set `secret = {{ env = \"VAR\" }}` in {name}.toml"
                ));
                None
            }
            SecretState::Absent => None,
        };
        if let Some(problem) = &entry.problem {
            tracing::warn!(plugin = name, %kind, "plugin not served: {problem}");
            return entry;
        }

        self.generation += 1;
        let plugin = LoadedPlugin {
            name: Arc::from(name),
            sandbox: Sandbox {
                plugin: Arc::from(name),
                config: Arc::new(settings.config),
                memory_bytes: settings.memory_bytes,
                timeout: settings.timeout,
            },
            prepared,
            secret,
            hash: hash.to_owned(),
            generation: self.generation,
        };
        tracing::info!(
            plugin = name,
            %kind,
            generation = plugin.generation,
            sha256 = crate::routes::short(hash),
            timeout_ms = plugin.sandbox.timeout.as_millis() as u64,
            memory_mb = plugin.sandbox.memory_bytes >> 20,
            "plugin loaded"
        );
        entry.serving = Some(Arc::new(plugin));
        entry
    }
}

/// A file that could not be taken: the version before it, if any, keeps serving.
fn kept_or_failed(
    name: &str,
    previous: Option<&Arc<PluginEntry>>,
    file_hash: String,
    problem: String,
) -> PluginEntry {
    let serving = previous.and_then(|p| p.serving.clone());
    match &serving {
        Some(old) => tracing::error!(
            plugin = name,
            generation = old.generation,
            "newest file not loaded, the previous version keeps serving: {problem}"
        ),
        None => tracing::error!(plugin = name, "plugin not loaded: {problem}"),
    }
    PluginEntry {
        name: name.to_owned(),
        kind: serving
            .as_ref()
            .map(|p| p.prepared.kind())
            .or_else(|| previous.and_then(|p| p.kind)),
        secret_source: previous.and_then(|p| p.secret_source.clone()),
        serving,
        file_hash,
        problem: Some(problem),
    }
}

/// Reads, hashes and configures one plugin: file work, run off the async workers.
fn read_plugin(wasm: &Path) -> std::io::Result<PluginFiles> {
    let bytes = std::fs::read(wasm)?;
    let path = sidecar_path(wasm);
    let sidecar = match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    };
    let settings = match &sidecar {
        Ok(None) => Ok(Settings::default()),
        Ok(Some(text)) => Settings::parse(text, &path).map_err(|e| e.to_string()),
        Err(problem) => Err(problem.clone()),
    };
    let secret = settings.as_ref().ok().and_then(|s| match &s.secret {
        SecretState::Absent => None,
        SecretState::Ready(secret) => Some(Sha256::digest(secret.expose()).into()),
        SecretState::Unusable(why) => Some(Sha256::digest(why.as_bytes()).into()),
    });
    Ok(PluginFiles {
        fingerprint: Fingerprint {
            wasm_hash: hex::encode(Sha256::digest(&bytes)),
            sidecar,
            secret,
        },
        bytes,
        settings,
    })
}

/// `NAME.wasm` files that are plugins, by name. Hidden files, editor
/// leftovers and names unfit for a URL are skipped.
async fn plugin_files(dir: &Path) -> std::io::Result<BTreeMap<String, PathBuf>> {
    let mut found = BTreeMap::new();
    let mut listing = tokio::fs::read_dir(dir).await?;
    while let Some(item) = listing.next_entry().await? {
        let path = item.path();
        let Some(name) = plugin_name(&path) else {
            continue;
        };
        if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
            found.insert(name.to_owned(), path);
        }
    }
    Ok(found)
}

/// The plugin name a path stands for, if it is a plugin file at all.
pub fn plugin_name(path: &Path) -> Option<&str> {
    if path.extension()? != "wasm" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let fits = !stem.is_empty()
        && !stem.starts_with('.')
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    fits.then_some(stem)
}

#[cfg(test)]
mod tests {
    use super::plugin_name;
    use std::path::Path;

    #[test]
    fn names_come_from_plain_wasm_files_only() {
        assert_eq!(plugin_name(Path::new("p/echo-bot.wasm")), Some("echo-bot"));
        assert_eq!(plugin_name(Path::new("p/a_b.c.wasm")), Some("a_b.c"));
        for skipped in [
            "p/.hidden.wasm",
            "p/.#echo.wasm",
            "p/echo.wasm~",
            "p/echo.wasm.swp",
            "p/#echo.wasm#",
            "p/echo.toml",
            "p/with space.wasm",
            "p/.wasm",
        ] {
            assert_eq!(plugin_name(Path::new(skipped)), None, "{skipped}");
        }
    }
}
