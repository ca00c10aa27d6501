//! Turns the files in the plugins folder into registry entries: reads,
//! hashes, compiles (off the async workers), applies sidecars.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};

use super::auth::authenticate;
use super::hook_routing::hook_table;
use super::registry::{PluginEntry, Registry, SharedRegistry};
use super::sidecar::{SecretSource, SecretState, Settings, read_regular_file, sidecar_path};
use super::{DeliveryPolicy, LoadedPlugin, OwnRoutes, StatusFile};
use crate::protocol::PluginKind;
use crate::protocol::http_hook::{HookRoute, Pattern, declare_routes};
use crate::runtime::{
    ADMISSION_WAIT, Admission, FileHash, LoadError, LogRate, OutboundPolicy, Prepared, Runtime,
    Sandbox, cores,
};
use crate::verify::Verifier;

const PYRUS_MAX_TIMEOUT: Duration = Duration::from_secs(55);
/// Far above any real component (CPython with its library is ~40 MB); a
/// bigger file, a device or a FIFO is refused rather than read without end.
const MAX_PLUGIN_BYTES: u64 = 512 << 20;
/// A sidecar is a few lines of TOML.
const MAX_SIDECAR_BYTES: u64 = 1 << 20;

/// What a plugin's files looked like when last loaded. The secret's digest
/// is part of it, so a rotated secret file or a touched sidecar reloads.
#[derive(PartialEq, Eq)]
struct Fingerprint {
    wasm_hash: FileHash,
    sidecar: Result<Option<String>, String>,
    secret: Option<[u8; 32]>,
}

/// Owns the reload state; one task drives it, so no locking is needed.
pub struct Loader {
    runtime: Arc<Runtime>,
    dir: PathBuf,
    registry: SharedRegistry,
    /// hookhost's own routes: listed per plugin, kept free of hook rules.
    own: OwnRoutes,
    seen: HashMap<String, Fingerprint>,
    /// Compilation results by file hash, so a sidecar edit or a file put
    /// back does not compile again, and a broken file is not retried.
    compiled: HashMap<FileHash, Result<Prepared, LoadError>>,
    generation: u64,
    /// Where a serving process publishes the live `routes` table.
    status: Option<StatusFile>,
    /// What every version of a plugin shares, by plugin name.
    shares: HashMap<String, Shares>,
}

/// What all loaded versions of one plugin share, so that a reload neither
/// doubles what it may run at once nor refills what it may log.
struct Shares {
    admission: Arc<Admission>,
    log_rate: Arc<LogRate>,
}

impl Loader {
    pub fn new(
        runtime: Arc<Runtime>,
        dir: PathBuf,
        registry: SharedRegistry,
        own: OwnRoutes,
    ) -> Self {
        Loader {
            runtime,
            dir,
            registry,
            own,
            seen: HashMap::new(),
            compiled: HashMap::new(),
            generation: 0,
            status: None,
            shares: HashMap::new(),
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
        let reads = self.read_all(files, &current).await?;
        let mut next = BTreeMap::new();
        for read in reads {
            let name = read.name.clone();
            if let Some(entry) = self.refresh(read, current.get(&name)).await {
                next.insert(name, entry);
            }
        }
        for gone in current.entries().filter(|e| !next.contains_key(&e.name)) {
            reloaded(&gone.name, "removed", String::new());
            tracing::info!(plugin = %gone.name, "plugin removed");
        }
        self.forget_gone(&next);
        let (hooks, refused) = hook_table(&current, &mut next, self.own.reserved());
        // A refused plugin is looked at again on the next rescan: the
        // plugin in its way may be gone by then.
        for name in refused {
            self.seen.remove(&name);
        }
        self.publish(Arc::new(Registry::new(next, hooks))).await;
        Ok(())
    }

    /// The entry for a plugin as its files are now; `None` when the file
    /// went away meanwhile (the next event rescans).
    async fn refresh(
        &mut self,
        read: Read,
        previous: Option<&Arc<PluginEntry>>,
    ) -> Option<Arc<PluginEntry>> {
        let name = read.name.as_str();
        let (fingerprint, settings) = match read.files {
            Ok(files) => files,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                let problem = format!("cannot read {}: {e}", read.wasm.display());
                // Forget the last good read, so the next rescan tries again.
                self.seen.remove(name);
                return Some(Arc::new(kept_or_failed(name, previous, None, problem)));
            }
        };
        if let Some(previous) = previous
            && self.seen.get(name) == Some(&fingerprint)
        {
            return Some(previous.clone());
        }
        let hash = fingerprint.wasm_hash.clone();
        let entry = match (self.prepared(&hash, read.compiled), settings) {
            (Ok(prepared), Ok(settings)) => {
                self.configure(name, prepared, settings, &hash, previous)
                    .await
            }
            (Err(problem), _) | (_, Err(problem)) => {
                kept_or_failed(name, previous, Some(hash), problem)
            }
        };
        self.seen.insert(name.to_owned(), fingerprint);
        Some(Arc::new(entry))
    }

    /// Reads every plugin's files, and compiles those no loaded version
    /// has the bytes of, off the async workers and a few at a time, so a
    /// start with many plugins uses every core. Only the files being
    /// compiled are held in memory, and only while they are.
    async fn read_all(
        &mut self,
        files: BTreeMap<String, PathBuf>,
        current: &Registry,
    ) -> std::io::Result<Vec<Read>> {
        let at_once = cores() as usize;
        // Identical bytes under two names are compiled once.
        let claimed = std::sync::Mutex::new(HashSet::new());
        let this = &*self;
        let mut reads = futures_util::stream::iter(files)
            .map(|(name, wasm)| this.read(name, wasm, current, &claimed))
            .buffered(at_once);
        let mut out = Vec::new();
        while let Some(read) = reads.next().await {
            out.push(read?);
        }
        drop(reads);
        // Compile and link results depend only on the bytes: keep them.
        for read in &mut out {
            if let (Ok((fingerprint, _)), Some(Ok(done))) = (&read.files, &read.compiled) {
                self.compiled
                    .insert(fingerprint.wasm_hash.clone(), done.clone());
                read.compiled = None;
            }
        }
        Ok(out)
    }

    async fn read(
        &self,
        name: String,
        wasm: PathBuf,
        current: &Registry,
        claimed: &std::sync::Mutex<HashSet<FileHash>>,
    ) -> std::io::Result<Read> {
        let path = wasm.clone();
        let files = tokio::task::spawn_blocking(move || read_plugin(&path))
            .await
            .map_err(|e| std::io::Error::other(format!("reading plugin files: {e}")))?;
        let (bytes, fingerprint, settings) = match files {
            Ok(files) => files,
            Err(e) => {
                return Ok(Read {
                    name,
                    wasm,
                    files: Err(e),
                    compiled: None,
                });
            }
        };
        let unchanged = current.get(&name).is_some() && self.seen.get(&name) == Some(&fingerprint);
        let first = || {
            claimed
                .lock()
                .map_or(true, |mut set| set.insert(fingerprint.wasm_hash.clone()))
        };
        let compiled =
            if unchanged || self.compiled.contains_key(&fingerprint.wasm_hash) || !first() {
                None
            } else {
                let runtime = self.runtime.clone();
                let (plugin, hash) = (name.clone(), fingerprint.wasm_hash.clone());
                let done = tokio::task::spawn_blocking(move || {
                    let component = runtime.load_component(&plugin, &bytes, &hash)?;
                    runtime.prepare(&component)
                })
                .await;
                Some(done.map_err(|e| format!("compilation did not finish: {e}")))
            };
        Ok(Read {
            name,
            wasm,
            files: Ok((fingerprint, settings)),
            compiled,
        })
    }

    /// The pre-linked component for file `hash`, which `read_all` compiled
    /// in this rescan or an earlier one.
    fn prepared(&self, hash: &FileHash, unfinished: Option<Compiled>) -> Result<Prepared, String> {
        if let Some(done) = self.compiled.get(hash) {
            return done.clone().map_err(|e| e.to_string());
        }
        Err(match unfinished {
            Some(Err(problem)) => problem,
            // Another plugin with these bytes was compiling them, and that
            // did not finish either.
            _ => "compilation did not finish".into(),
        })
    }

    /// Keeps what is on disk and what is serving, so a good file put back
    /// after a broken one does not compile again.
    fn forget_gone(&mut self, next: &BTreeMap<String, Arc<PluginEntry>>) {
        self.seen.retain(|name, _| next.contains_key(name));
        self.shares.retain(|name, _| next.contains_key(name));
        self.compiled.retain(|hash, _| {
            next.values().any(|e| {
                e.file_hash.as_ref() == Some(hash)
                    || e.serving.as_ref().is_some_and(|p| &p.hash == hash)
            })
        });
    }

    async fn publish(&self, registry: Arc<Registry>) {
        self.registry.store(registry.clone());
        if let Some(status) = &self.status
            && let Err(e) = status.publish(&registry).await
        {
            tracing::warn!("cannot publish the routes table for `hookhost routes`: {e}");
        }
    }

    /// Applies the sidecar to a compiled plugin: its check, limits and
    /// (for hook plugins) its rules.
    async fn configure(
        &mut self,
        name: &str,
        prepared: Prepared,
        mut settings: Settings,
        hash: &FileHash,
        previous: Option<&Arc<PluginEntry>>,
    ) -> PluginEntry {
        let kind = prepared.kind();
        warn_inline_secrets(name, &settings);
        cap_timeout(name, kind, &mut settings);
        let mut entry = PluginEntry {
            name: name.to_owned(),
            kind: Some(kind),
            file_hash: Some(hash.clone()),
            secret_source: secret_description(&settings),
            routes: self.listed(kind, name, &settings),
            verify: Some(declared_scheme(kind, &settings)),
            outbound: outbound_description(&settings),
            ..PluginEntry::default()
        };
        let verifier = match settings
            .config_problem()
            .map_or_else(|| authenticate(kind, name, &settings), Err)
        {
            Ok(verifier) => verifier,
            Err(problem) => {
                reloaded(name, "not_served", problem.clone());
                tracing::warn!(plugin = name, %kind, "plugin not served: {problem}");
                entry.problem = Some(problem);
                return entry;
            }
        };
        entry.verify = Some(verifier.scheme().to_string());

        let shares = self
            .shares
            .entry(name.to_owned())
            .or_insert_with(|| Shares {
                admission: Admission::new(settings.max_concurrency),
                log_rate: LogRate::new(settings.log_kib_per_s),
            });
        // A changed limit starts afresh: calls running under the old one
        // finish under it.
        if shares.admission.limit() != settings.max_concurrency {
            shares.admission = Admission::new(settings.max_concurrency);
        }
        if shares.log_rate.kib_per_s() != settings.log_kib_per_s {
            shares.log_rate = LogRate::new(settings.log_kib_per_s);
        }
        let sandbox = Sandbox {
            admission: shares.admission.clone(),
            admission_wait: Some(ADMISSION_WAIT),
            log_rate: shares.log_rate.clone(),
            plugin: Arc::from(name),
            config: Arc::new(settings.plugin_config()),
            memory_bytes: settings.memory_bytes,
            timeout: settings.timeout,
            outbound: Arc::new(OutboundPolicy::new(
                settings.allowed_outbound_hosts,
                settings.outbound,
            )),
            state_quota: settings.state_quota,
            instances: settings
                .instances
                .map(|policy| self.runtime.instance_pool(policy)),
        };
        let hook_routes = match self
            .hook_routes(name, &prepared, &sandbox, settings.mount)
            .await
        {
            Ok(routes) => routes,
            Err(problem) => {
                let mut failed = kept_or_failed(name, previous, Some(hash.clone()), problem);
                failed.kind = Some(kind);
                return failed;
            }
        };
        if !hook_routes.is_empty() {
            entry.routes = hook_routes.iter().map(|r| r.describe()).collect();
        }
        let plugin = LoadedPlugin {
            delivery: settings.delivery,
            ..self.loaded(name, prepared, sandbox, verifier, hook_routes, hash)
        };
        entry.serving = Some(Arc::new(plugin));
        entry
    }

    /// The routes `routes` shows for a plugin before its rules are known.
    fn listed(&self, kind: PluginKind, name: &str, settings: &Settings) -> Vec<String> {
        if kind != PluginKind::HttpHook {
            return self.own.listed(kind, name);
        }
        let mount = settings
            .mount
            .clone()
            .unwrap_or_else(|| format!("/hooks/{name}"));
        vec![format!("* {}/…", mount.trim_end_matches('/'))]
    }

    /// A hook plugin's rules under its mount point (its own `/hooks/NAME`
    /// unless the sidecar says `mount`); none for other kinds.
    async fn hook_routes(
        &self,
        name: &str,
        prepared: &Prepared,
        sandbox: &Sandbox,
        mount: Option<String>,
    ) -> Result<Vec<HookRoute>, String> {
        let Prepared::HttpHook(pre) = prepared else {
            return Ok(Vec::new());
        };
        let own_mount = mount.is_none();
        let mount = mount.unwrap_or_else(|| format!("/hooks/{name}"));
        let mount = Pattern::parse_mount(&mount).map_err(|e| format!("mount {e}"))?;
        let routes = self
            .runtime
            .hook_routes(pre, sandbox)
            .await
            .map_err(|e| format!("routes() failed: {e}"))?;
        declare_routes(&mount, own_mount, routes)
    }

    fn loaded(
        &mut self,
        name: &str,
        prepared: Prepared,
        sandbox: Sandbox,
        verifier: Verifier,
        hook_routes: Vec<HookRoute>,
        hash: &FileHash,
    ) -> LoadedPlugin {
        self.generation += 1;
        let plugin = LoadedPlugin {
            name: Arc::from(name),
            sandbox,
            prepared,
            verifier,
            hook_routes,
            // The caller's, from the sidecar.
            delivery: DeliveryPolicy::default(),
            hash: hash.clone(),
            generation: self.generation,
        };
        reloaded(
            name,
            "loaded",
            format!("generation {} sha256 {}", self.generation, hash.short()),
        );
        tracing::info!(
            plugin = name,
            kind = %plugin.prepared.kind(),
            generation = plugin.generation,
            sha256 = hash.short(),
            timeout_ms = plugin.sandbox.timeout.as_millis() as u64,
            memory_mb = plugin.sandbox.memory_bytes >> 20,
            outbound = plugin.sandbox.outbound.allow_list().entries().len(),
            // 0: a fresh instance for every call.
            reuse = plugin.sandbox.instances.as_ref().map_or(0, |p| p.policy().max_uses),
            "plugin loaded"
        );
        plugin
    }
}

/// Counts a plugin file handled, and keeps it for the admin page.
fn reloaded(plugin: &str, outcome: &'static str, detail: String) {
    crate::metrics::get().reload(outcome);
    crate::recent::get().reload(plugin, outcome, detail);
}

fn warn_inline_secrets(name: &str, settings: &Settings) {
    let inline_password = settings
        .basic_auth
        .as_ref()
        .is_some_and(|b| matches!(b.password_source, SecretSource::Value(_)));
    if matches!(settings.secret_source, Some(SecretSource::Value(_))) || inline_password {
        tracing::warn!(
            plugin = name,
            "sidecar gives a secret inline; prefer `env` or `file`"
        );
    }
}

/// Pyrus gives a bot 60 s; answering after that is answering no one.
fn cap_timeout(name: &str, kind: PluginKind, settings: &mut Settings) {
    if kind.pyrus_signed() && settings.timeout > PYRUS_MAX_TIMEOUT {
        tracing::warn!(
            plugin = name,
            "timeout_ms lowered to {} ms: Pyrus waits 60 s at most",
            PYRUS_MAX_TIMEOUT.as_millis()
        );
        settings.timeout = PYRUS_MAX_TIMEOUT;
    }
}

/// A file that could not be taken: the version before it, if any, keeps serving.
fn kept_or_failed(
    name: &str,
    previous: Option<&Arc<PluginEntry>>,
    file_hash: Option<FileHash>,
    problem: String,
) -> PluginEntry {
    reloaded(name, "failed", problem.clone());
    let serving = previous.and_then(|p| p.serving.clone());
    match &serving {
        Some(old) => tracing::error!(
            plugin = name,
            generation = old.generation,
            "newest file not loaded, the previous version keeps serving: {problem}"
        ),
        None => tracing::error!(plugin = name, "plugin not loaded: {problem}"),
    }
    // Everything else `routes` shows stays as the previous entry had it.
    let before = previous.map_or_else(PluginEntry::default, |p| (**p).clone());
    PluginEntry {
        name: name.to_owned(),
        kind: serving.as_ref().map(|p| p.prepared.kind()).or(before.kind),
        serving,
        file_hash,
        problem: Some(problem),
        ..before
    }
}

/// The scheme the sidecar asks for, shown by `routes` even when it cannot
/// be set up.
fn declared_scheme(kind: PluginKind, settings: &Settings) -> String {
    if kind.pyrus_signed() {
        return crate::verify::Scheme::PyrusSig.to_string();
    }
    match (&settings.verify, &settings.basic_auth) {
        (Some(scheme), _) => scheme.clone(),
        (None, Some(_)) => "basic".to_owned(),
        (None, None) => "-".to_owned(),
    }
}

/// The allow-list for `routes`, comma-separated without spaces so the
/// table stays split on whitespace; `None` when it is empty.
fn outbound_description(settings: &Settings) -> Option<String> {
    let allow = &settings.allowed_outbound_hosts;
    (!allow.is_empty()).then(|| {
        allow
            .entries()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Where the secret, the basic-auth password and secret config values come
/// from (never the values).
fn secret_description(settings: &Settings) -> Option<String> {
    let secret = settings.secret_source.as_ref().map(ToString::to_string);
    // The user is half the credential: not shown.
    let basic =
        (settings.basic_auth.as_ref()).map(|b| format!("basic password {}", b.password_source));
    let config = settings
        .config_sources
        .iter()
        .map(|(key, source)| format!("config.{key} {source}"));
    let all: Vec<String> = secret.into_iter().chain(basic).chain(config).collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// One plugin's files as a rescan found them.
struct Read {
    name: String,
    wasm: PathBuf,
    files: std::io::Result<(Fingerprint, Result<Settings, String>)>,
    /// What compiling the bytes for this rescan gave; `read_all` moves
    /// the results into the loader's map, so only a compile that did not
    /// finish stays here.
    compiled: Option<Compiled>,
}

/// A compile and link result, or why the compile did not finish.
type Compiled = Result<Result<Prepared, LoadError>, String>;

/// Reads, hashes and configures one plugin: file work, run off the async workers.
fn read_plugin(wasm: &Path) -> std::io::Result<(Vec<u8>, Fingerprint, Result<Settings, String>)> {
    let bytes = read_regular_file(wasm, MAX_PLUGIN_BYTES)?;
    let path = sidecar_path(wasm);
    let sidecar = match read_regular_file(&path, MAX_SIDECAR_BYTES) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("cannot read {}: not UTF-8", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    };
    // No sidecar reads as an empty one: the defaults live in `parse` alone.
    let settings = match &sidecar {
        Ok(text) => {
            Settings::parse(text.as_deref().unwrap_or_default(), &path).map_err(|e| e.to_string())
        }
        Err(problem) => Err(problem.clone()),
    };
    // One digest over every secret: the plugin's, the basic-auth password
    // and config references; any of them changing (a rotated file, a
    // variable set) reloads the plugin.
    let secret = settings.as_ref().ok().map(|s| {
        let mut digest = Sha256::new();
        let password = s.basic_auth.as_ref().map(|b| &b.password);
        let config = s.config_secrets.values();
        for state in std::iter::once(&s.secret).chain(password).chain(config) {
            let (tag, bytes): (u8, &[u8]) = match state {
                SecretState::Absent => (0, b""),
                SecretState::Ready(secret) => (1, secret.expose()),
                SecretState::Unusable(why) => (2, why.as_bytes()),
            };
            digest.update([tag]);
            digest.update(Sha256::digest(bytes));
        }
        digest.finalize().into()
    });
    let fingerprint = Fingerprint {
        wasm_hash: FileHash::of(&bytes),
        sidecar,
        secret,
    };
    Ok((bytes, fingerprint, settings))
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
