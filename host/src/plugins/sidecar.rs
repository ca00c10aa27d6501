//! The optional `NAME.toml` beside a plugin: what must not live in the
//! binary (secrets, limits, config values).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::delivery_policy::{DeliveryPolicy, RetryFile};
use crate::outbound::{AllowList, OutboundLimits};
use crate::runtime::{
    DEFAULT_IDLE, DEFAULT_LOG_KIB_PER_S, MAX_CONCURRENCY, MAX_IDLE, MAX_REUSE, ReusePolicy,
    default_max_concurrency,
};

/// 1 GiB/s: past any disk; the limit is there to be set lower.
const MAX_LOG_KIB_PER_S: u64 = 1 << 20;
use crate::state::Quota;

/// Wall-clock budget for one request when the sidecar does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Linear-memory ceiling for one request when the sidecar does not say.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// Wasm32 cannot address more than 4 GiB.
pub const MAX_MEMORY_MB: u64 = 4096;
/// `[state] max_bytes_mb` beyond this is surely a typo (1 TiB).
pub const MAX_STATE_MB: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    #[error("{path} is not a valid sidecar: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Where a secret comes from. Only the reference is ever shown, never the value.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
    Value(String),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(var) => write!(f, "env {var}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Value(_) => f.write_str("inline value"),
        }
    }
}

// Debug goes through Display so an inline value is never printed.
impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A secret's bytes. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Self {
        Secret(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The secret as far as the plugin is concerned.
#[derive(Debug, Clone)]
pub enum SecretState {
    /// The sidecar names no secret.
    Absent,
    /// The sidecar names one but it cannot be used; the text says why.
    Unusable(String),
    Ready(Secret),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub secret: SecretState,
    pub secret_source: Option<SecretSource>,
    pub timeout: Duration,
    pub memory_bytes: u64,
    /// The plain config values. See [`Settings::plugin_config`] for all.
    pub config: BTreeMap<String, String>,
    /// The config values given as references (`{ env = "VAR" }`), resolved:
    /// secrets, so kept apart and never shown, and watched like the
    /// plugin's own secret.
    pub config_secrets: BTreeMap<String, SecretState>,
    /// Where each of those comes from, for `routes`.
    pub config_sources: BTreeMap<String, SecretSource>,
    /// The signature scheme, as written; checked against the kind on load.
    pub verify: Option<String>,
    /// The header the `token` scheme reads.
    pub token_header: Option<String>,
    pub basic_auth: Option<BasicAuth>,
    /// Where a generic hook plugin's rules are mounted (default `/hooks/NAME`).
    pub mount: Option<String>,
    /// The origins the plugin may send requests to; empty allows none.
    pub allowed_outbound_hosts: AllowList,
    /// The `[outbound]` table, defaults filled in.
    pub outbound: OutboundLimits,
    /// What the plugin's keyvalue state may hold (`[state]`).
    pub state_quota: Quota,
    /// `mode`, `retry` and `concurrency`: deliveries answered before the
    /// plugin runs.
    pub delivery: DeliveryPolicy,
    /// How many calls of the plugin may run at once (`max_concurrency`).
    pub max_concurrency: u32,
    /// What the plugin may write to the host log over time (`log_kib_per_s`).
    pub log_kib_per_s: u64,
    /// `instances = { reuse = N, idle_s = S }`: kept instances; `None`
    /// gives every call a fresh one.
    pub instances: Option<ReusePolicy>,
}

#[derive(Debug, Clone)]
pub struct BasicAuth {
    pub user: String,
    pub password: SecretState,
    pub password_source: SecretSource,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SidecarFile {
    /// Read as a bare value and checked by `secret_source`: serde's own
    /// messages quote what they reject, and that could be the secret.
    secret: Option<toml::Value>,
    timeout_ms: Option<u64>,
    memory_mb: Option<u64>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    verify: Option<String>,
    token_header: Option<String>,
    /// Read by hand, like `secret`, so a password is never quoted.
    basic_auth: Option<toml::Value>,
    mount: Option<String>,
    /// Parsed after, so the message can say which key: the first malformed
    /// entry is the error, with what is wrong with it (userinfo redacted).
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    outbound: OutboundFile,
    #[serde(default)]
    state: StateSection,
    mode: Option<String>,
    retry: Option<RetryFile>,
    concurrency: Option<u64>,
    max_concurrency: Option<u64>,
    log_kib_per_s: Option<u64>,
    instances: Option<InstancesFile>,
}

/// `instances = { reuse = 1000, idle_s = 60 }`: opt-in instance reuse.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstancesFile {
    reuse: u64,
    idle_s: Option<u64>,
}

impl InstancesFile {
    fn policy(&self) -> Result<ReusePolicy, String> {
        if !(1..=u64::from(MAX_REUSE)).contains(&self.reuse) {
            return Err(format!("instances.reuse must be between 1 and {MAX_REUSE}"));
        }
        let idle = match self.idle_s {
            None => DEFAULT_IDLE,
            Some(s) if (1..=MAX_IDLE.as_secs()).contains(&s) => Duration::from_secs(s),
            Some(_) => {
                return Err(format!(
                    "instances.idle_s must be between 1 and {}",
                    MAX_IDLE.as_secs()
                ));
            }
        };
        Ok(ReusePolicy {
            max_uses: self.reuse as u32,
            idle,
        })
    }
}

/// `[outbound]`: the limits on a plugin's outbound HTTP. Every key is
/// optional; milliseconds, as `timeout_ms` is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundFile {
    max_requests: Option<u32>,
    connect_timeout_ms: Option<u64>,
    first_byte_timeout_ms: Option<u64>,
    max_response_bytes: Option<u64>,
    max_connections: Option<u32>,
}

impl OutboundFile {
    fn limits(&self) -> Result<OutboundLimits, String> {
        let base = OutboundLimits::default();
        let limits = OutboundLimits {
            max_requests: self.max_requests.unwrap_or(base.max_requests),
            connect_timeout: self
                .connect_timeout_ms
                .map_or(base.connect_timeout, Duration::from_millis),
            first_byte_timeout: self
                .first_byte_timeout_ms
                .map_or(base.first_byte_timeout, Duration::from_millis),
            max_response_bytes: self.max_response_bytes.unwrap_or(base.max_response_bytes),
            max_connections: self.max_connections.unwrap_or(base.max_connections),
        };
        limits
            .validate()
            .map_err(|e| format!("outbound.{}", ms_name(e.to_string())))?;
        Ok(limits)
    }
}

/// The limit error names the field as the code does (`connect_timeout`);
/// the sidecar key has `_ms`.
fn ms_name(message: String) -> String {
    for key in ["connect_timeout", "first_byte_timeout"] {
        if let Some(rest) = message.strip_prefix(key) {
            return format!("{key}_ms{rest}");
        }
    }
    message
}

/// `[state] max_bytes_mb = 64, max_keys = 100000`: the plugin's quota.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateSection {
    max_bytes_mb: Option<u64>,
    max_keys: Option<u64>,
}

impl StateSection {
    fn quota(&self) -> Result<Quota, String> {
        let default = Quota::default();
        let max_bytes = match self.max_bytes_mb {
            None => default.max_bytes,
            Some(mb) if (1..=MAX_STATE_MB).contains(&mb) => mb << 20,
            Some(_) => {
                return Err(format!(
                    "state.max_bytes_mb must be between 1 and {MAX_STATE_MB}"
                ));
            }
        };
        let max_keys = match self.max_keys {
            None => default.max_keys,
            Some(0) => return Err("state.max_keys must be at least 1".into()),
            Some(n) => n,
        };
        Ok(Quota {
            max_bytes,
            max_keys,
        })
    }
}

pub fn sidecar_path(wasm: &Path) -> PathBuf {
    wasm.with_extension("toml")
}

impl Settings {
    /// Parses sidecar text. `dir` anchors relative `secret = { file = … }` paths.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, SidecarError> {
        let invalid = |message: String| SidecarError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: SidecarFile =
            toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        let secret_source = file
            .secret
            .map(|v| secret_source(v, "secret"))
            .transpose()
            .map_err(invalid)?;

        let timeout = match file.timeout_ms {
            None => DEFAULT_TIMEOUT,
            Some(0) => return Err(invalid("timeout_ms must be at least 1".into())),
            Some(ms) => Duration::from_millis(ms),
        };
        let memory_mb = file.memory_mb.unwrap_or(DEFAULT_MEMORY_MB);
        if !(1..=MAX_MEMORY_MB).contains(&memory_mb) {
            return Err(invalid(format!(
                "memory_mb must be between 1 and {MAX_MEMORY_MB}"
            )));
        }

        let state_quota = file.state.quota().map_err(invalid)?;

        let dir = path.parent().unwrap_or(Path::new("."));
        let config = config_values(file.config, dir).map_err(invalid)?;

        let secret = secret_source
            .as_ref()
            .map_or(SecretState::Absent, |s| resolve_secret(s, dir));

        let basic_auth = file
            .basic_auth
            .map(|v| basic_auth(v, dir))
            .transpose()
            .map_err(invalid)?;
        if let Some(header) = &file.token_header
            && axum::http::HeaderName::from_bytes(header.as_bytes()).is_err()
        {
            return Err(invalid(format!(
                "token_header {header:?} is not a header name"
            )));
        }

        let allowed_outbound_hosts = AllowList::parse(&file.allowed_outbound_hosts)
            .map_err(|e| invalid(format!("allowed_outbound_hosts entry {e}")))?;
        let outbound = file.outbound.limits().map_err(invalid)?;
        let delivery =
            DeliveryPolicy::parse(file.mode.as_deref(), file.retry.as_ref(), file.concurrency)
                .map_err(invalid)?;

        let max_concurrency = match file.max_concurrency {
            None => default_max_concurrency(),
            Some(n) if (1..=u64::from(MAX_CONCURRENCY)).contains(&n) => n as u32,
            Some(_) => {
                return Err(invalid(format!(
                    "max_concurrency must be between 1 and {MAX_CONCURRENCY}"
                )));
            }
        };

        let log_kib_per_s = match file.log_kib_per_s {
            None => DEFAULT_LOG_KIB_PER_S,
            Some(n) if (1..=MAX_LOG_KIB_PER_S).contains(&n) => n,
            Some(_) => {
                return Err(invalid(format!(
                    "log_kib_per_s must be between 1 and {MAX_LOG_KIB_PER_S}"
                )));
            }
        };

        let instances = file
            .instances
            .as_ref()
            .map(InstancesFile::policy)
            .transpose()
            .map_err(invalid)?;

        Ok(Settings {
            instances,
            max_concurrency,
            log_kib_per_s,
            secret,
            secret_source,
            timeout,
            memory_bytes: memory_mb << 20,
            config: config.values,
            config_secrets: config.secrets,
            config_sources: config.sources,
            verify: file.verify,
            token_header: file.token_header,
            basic_auth,
            mount: file.mount,
            allowed_outbound_hosts,
            outbound,
            state_quota,
            delivery,
        })
    }

    /// Everything `get-config` answers, sorted by key as `list-config`
    /// promises: the plain values and the resolved references.
    pub fn plugin_config(&self) -> BTreeMap<String, String> {
        let mut all = self.config.clone();
        for (key, state) in &self.config_secrets {
            if let SecretState::Ready(secret) = state {
                all.insert(
                    key.clone(),
                    String::from_utf8_lossy(secret.expose()).into_owned(),
                );
            }
        }
        all
    }

    /// Why a config value given as a reference cannot be used, if one cannot.
    pub fn config_problem(&self) -> Option<String> {
        self.config_secrets
            .iter()
            .find_map(|(key, state)| match state {
                SecretState::Unusable(why) => Some(format!("config.{key} unusable: {why}")),
                _ => None,
            })
    }

    pub fn memory_mb(&self) -> u64 {
        self.memory_bytes >> 20
    }
}

/// Config values: strings, numbers and booleans as text; a table is a
/// reference like `secret`'s, resolved now. An unresolvable reference is
/// kept as `Unusable`, so the plugin is refused with the reason.
#[derive(Default)]
struct ConfigValues {
    values: BTreeMap<String, String>,
    secrets: BTreeMap<String, SecretState>,
    sources: BTreeMap<String, SecretSource>,
}

fn config_values(raw: BTreeMap<String, toml::Value>, dir: &Path) -> Result<ConfigValues, String> {
    let mut out = ConfigValues::default();
    for (key, value) in raw {
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Datetime(d) => d.to_string(),
            table @ toml::Value::Table(_) => {
                let source = secret_source(table, &format!("config.{key}"))?;
                let state = resolve_secret(&source, dir);
                out.secrets.insert(key.clone(), state);
                out.sources.insert(key, source);
                continue;
            }
            toml::Value::Array(_) => {
                return Err(format!(
                    "config.{key} must be a string, number, boolean or {{ env = \"VAR\" }} / {{ file = \"path\" }}"
                ));
            }
        };
        out.values.insert(key, text);
    }
    Ok(out)
}

/// `{ env = "VAR" }`, `{ file = "path" }` or `{ value = "..." }`. The
/// messages never include what was written.
fn secret_source(value: toml::Value, key: &str) -> Result<SecretSource, String> {
    let shape = || {
        format!(
            "{key} must be one of {{ env = \"VAR\" }}, {{ file = \"path\" }}, {{ value = \"...\" }}"
        )
    };
    let toml::Value::Table(table) = value else {
        return Err(shape());
    };
    let mut entries = table.into_iter();
    let (Some((kind, toml::Value::String(text))), None) = (entries.next(), entries.next()) else {
        return Err(shape());
    };
    match kind.as_str() {
        "env" => Ok(SecretSource::Env(text)),
        "file" => Ok(SecretSource::File(PathBuf::from(text))),
        "value" => Ok(SecretSource::Value(text)),
        _ => Err(shape()),
    }
}

/// `basic_auth = { user = "…", password = { env = "VAR" } }`.
fn basic_auth(value: toml::Value, dir: &Path) -> Result<BasicAuth, String> {
    const SHAPE: &str = "basic_auth must be { user = \"name\", password = { env = \"VAR\" } } (or password = { file = … } / { value = … })";
    let toml::Value::Table(mut table) = value else {
        return Err(SHAPE.to_owned());
    };
    let (Some(toml::Value::String(user)), Some(password)) =
        (table.remove("user"), table.remove("password"))
    else {
        return Err(SHAPE.to_owned());
    };
    if !table.is_empty() {
        return Err(SHAPE.to_owned());
    }
    // The user travels as `user:password`; a colon would split it elsewhere.
    if user.is_empty() || user.contains(':') {
        return Err("basic_auth.user must be non-empty and contain no ':'".to_owned());
    }
    let password_source = secret_source(password, "basic_auth.password")?;
    Ok(BasicAuth {
        user,
        password: resolve_secret(&password_source, dir),
        password_source,
    })
}

fn resolve_secret(source: &SecretSource, dir: &Path) -> SecretState {
    let text = match source {
        SecretSource::Env(var) => std::env::var(var).map_err(|e| match e {
            std::env::VarError::NotPresent => format!("environment variable {var} is not set"),
            std::env::VarError::NotUnicode(_) => format!("environment variable {var} is not UTF-8"),
        }),
        SecretSource::File(path) => {
            let full = dir.join(path);
            read_secret_file(&full)
                // `echo secret > file` leaves a newline that is not part of the secret.
                .map(|v| v.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| format!("secret file {} cannot be read: {e}", full.display()))
        }
        SecretSource::Value(v) => Ok(v.clone()),
    };
    match text {
        Ok(text) if text.is_empty() => {
            SecretState::Unusable(format!("secret from {source} is empty"))
        }
        Ok(text) => SecretState::Ready(Secret::new(text.into_bytes())),
        Err(why) => SecretState::Unusable(why),
    }
}

/// A secret file longer than this is surely not a secret (a key, a token or
/// a password is well under 1 KiB); it is refused, not read on.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The file's text, if it is a regular file of at most
/// [`MAX_SECRET_FILE_BYTES`].
fn read_secret_file(path: &Path) -> std::io::Result<String> {
    let bytes = read_regular_file(path, MAX_SECRET_FILE_BYTES)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
}

/// The file's bytes, if it is a regular file of at most `max` bytes: a
/// device (`/dev/zero`) or a FIFO would otherwise be read without end, or
/// block the loader for good.
pub fn read_regular_file(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    // `metadata` follows symlinks (Kubernetes mounts secrets that way) and,
    // unlike opening, does not block on a FIFO.
    if !std::fs::metadata(path)?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("longer than {max} bytes"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(&file, "timeout_ms = 5").unwrap();
        assert_eq!(read_regular_file(&file, 14).unwrap(), b"timeout_ms = 5");
        let too_long = read_regular_file(&file, 13).unwrap_err();
        assert_eq!(too_long.to_string(), "longer than 13 bytes");
        let device = dir.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &device).unwrap();
        let refused = read_regular_file(&device, 1 << 20).unwrap_err();
        assert_eq!(refused.to_string(), "not a regular file");
        let missing = read_regular_file(&dir.path().join("none.toml"), 1).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    fn parse(text: &str) -> Result<Settings, SidecarError> {
        Settings::parse(text, Path::new("/nonexistent/p.toml"))
    }

    #[test]
    fn defaults_without_keys() {
        let s = parse("").unwrap();
        assert!(matches!(s.secret, SecretState::Absent));
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.memory_mb(), DEFAULT_MEMORY_MB);
    }

    #[test]
    fn inline_secret_and_config_values() {
        let s = parse(
            "secret = { value = \"k\" }\ntimeout_ms = 250\nmemory_mb = 8\n[config]\ngreeting = \"hi\"\nlimit = 5\n",
        )
        .unwrap();
        assert!(matches!(&s.secret, SecretState::Ready(k) if k.expose() == b"k"));
        assert_eq!(s.timeout, Duration::from_millis(250));
        assert_eq!(s.memory_mb(), 8);
        assert_eq!(s.config["greeting"], "hi");
        assert_eq!(s.config["limit"], "5");
    }

    #[test]
    fn missing_env_secret_is_unusable_and_says_which() {
        let s = parse("secret = { env = \"HOOKHOST_TEST_SURELY_UNSET_VAR\" }").unwrap();
        match s.secret {
            SecretState::Unusable(why) => assert!(why.contains("HOOKHOST_TEST_SURELY_UNSET_VAR")),
            other => panic!("expected unusable, got {other:?}"),
        }
    }

    #[test]
    fn instances_opt_in_to_reuse_within_bounds() {
        assert_eq!(parse("").unwrap().instances, None);
        let kept = parse("instances = { reuse = 1000 }").unwrap().instances;
        assert_eq!(
            kept,
            Some(ReusePolicy {
                max_uses: 1000,
                idle: DEFAULT_IDLE
            })
        );
        let kept = parse("instances = { reuse = 1, idle_s = 3600 }").unwrap();
        assert_eq!(kept.instances.map(|p| p.idle), Some(MAX_IDLE));
        for (line, reason) in [
            (
                "instances = { reuse = 0 }",
                "instances.reuse must be between 1 and 1000000",
            ),
            (
                "instances = { reuse = 1000001 }",
                "instances.reuse must be between 1 and 1000000",
            ),
            (
                "instances = { reuse = 5, idle_s = 0 }",
                "instances.idle_s must be between 1 and 3600",
            ),
            (
                "instances = { reuse = 5, idle_s = 3601 }",
                "instances.idle_s must be between 1 and 3600",
            ),
        ] {
            let error = parse(line).unwrap_err().to_string();
            assert!(error.contains(reason), "{line}: {error}");
        }
        assert!(parse("instances = { idle_s = 5 }").is_err());
        assert!(parse("instances = { reuse = 5, idle = 5 }").is_err());
        assert!(parse("instances = 5").is_err());
    }

    #[test]
    fn rejects_unknown_keys_bad_limits_and_nested_config() {
        assert!(parse("timeout = 5").is_err());
        assert!(parse("timeout_ms = 0").is_err());
        assert!(parse("memory_mb = 5000").is_err());
        assert!(parse("[config]\na = [1]").is_err());
        assert!(parse("[state]\nmax_bytes = 5").is_err());
        assert!(parse("[state]\nmax_keys = 0").is_err());
        assert!(parse("[state]\nmax_bytes_mb = 0").is_err());
    }

    #[test]
    fn state_quota_defaults_and_override() {
        assert_eq!(parse("").unwrap().state_quota, Quota::default());
        let s = parse("[state]\nmax_keys = 3").unwrap();
        assert_eq!(s.state_quota.max_keys, 3);
        assert_eq!(s.state_quota.max_bytes, Quota::default().max_bytes);
        let s = parse("[state]\nmax_bytes_mb = 2\nmax_keys = 10").unwrap();
        assert_eq!(s.state_quota.max_bytes, 2 << 20);
    }

    #[test]
    fn malformed_secrets_are_refused_without_quoting_them() {
        for text in [
            "secret = \"hunter2\"",
            "secret = { value = 123456 }",
            "secret = { vault = \"hunter2\" }",
            "secret = { value = \"hunter2\", env = \"X\" }",
            "secret = [\"hunter2\"]",
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains("secret must be one of"), "{text}: {err}");
            assert!(!err.contains("hunter2") && !err.contains("123456"), "{err}");
        }
    }

    #[test]
    fn config_values_may_be_secret_references() {
        // Unset by anything: the name is this test's own.
        let var = "HOOKHOST_TEST_CONFIG_TOKEN_8d1f";
        let s = parse(&format!(
            "[config]\ntoken = {{ env = \"{var}\" }}\nplain = \"p\""
        ))
        .unwrap();
        assert!(s.config_problem().unwrap().contains(var));
        assert!(!s.plugin_config().contains_key("token"));
        assert_eq!(s.config["plain"], "p");
        assert_eq!(s.config_sources["token"].to_string(), format!("env {var}"));

        let s = parse("[config]\ntoken = { value = \"tok-123\" }").unwrap();
        assert_eq!(s.plugin_config()["token"], "tok-123");
        assert!(s.config_problem().is_none());
        assert!(!format!("{s:?}").contains("tok-123"));

        let err = parse("[config]\ntoken = { vault = \"tok-123\" }")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.token must be one of") && !err.contains("tok-123"),
            "{err}"
        );
    }

    #[test]
    fn outbound_allow_list_and_limits() {
        let s = parse("").unwrap();
        assert!(s.allowed_outbound_hosts.is_empty());
        assert_eq!(s.outbound, OutboundLimits::default());

        let s = parse(
            "allowed_outbound_hosts = [\"https://api.pyrus.com\", \"http://127.0.0.1:9000\"]\n\
             [outbound]\nmax_requests = 2\nconnect_timeout_ms = 500\nfirst_byte_timeout_ms = 700\n\
             max_response_bytes = 1024\nmax_connections = 3\n",
        )
        .unwrap();
        assert!(
            s.allowed_outbound_hosts
                .allows("https", "api.pyrus.com", None)
        );
        assert!(
            s.allowed_outbound_hosts
                .allows("http", "127.0.0.1", Some(9000))
        );
        assert!(
            !s.allowed_outbound_hosts
                .allows("http", "127.0.0.1", Some(9001))
        );
        assert_eq!(
            s.outbound,
            OutboundLimits {
                max_requests: 2,
                connect_timeout: Duration::from_millis(500),
                first_byte_timeout: Duration::from_millis(700),
                max_response_bytes: 1024,
                max_connections: 3,
            }
        );
    }

    #[test]
    fn malformed_outbound_settings_say_what_is_wrong() {
        let err = parse("allowed_outbound_hosts = [\"api.pyrus.com\"]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("allowed_outbound_hosts entry \"api.pyrus.com\""),
            "{err}"
        );
        let err = parse("allowed_outbound_hosts = [\"https://bot:hunter2@api.pyrus.com/x\"]")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse("[outbound]\nconnect_timeout_ms = 0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("outbound.connect_timeout_ms must be between"),
            "{err}"
        );
        let err = parse("[outbound]\nmax_requests = 0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("outbound.max_requests must be between 1 and 1024"),
            "{err}"
        );
        assert!(parse("[outbound]\nretries = 3").is_err());
        assert!(parse("allowed_outbound_hosts = \"https://x.com\"").is_err());
    }

    #[test]
    fn debug_never_shows_secret() {
        let s = parse("secret = { value = \"topsecret\" }").unwrap();
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}
