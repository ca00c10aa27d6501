//! How a plugin's senders prove who they are, from its kind and sidecar.
//! Fails closed: a plugin whose check cannot be set up is not served.

use axum::http::HeaderName;

use super::sidecar::{SecretState, Settings};
use crate::protocol::PluginKind;
use crate::verify::{Credentials, Scheme, Verifier};

/// The header the `token` scheme reads when the sidecar names none.
pub const DEFAULT_TOKEN_HEADER: &str = "x-webhook-token";

/// The check every request to a plugin passes before its body is parsed.
pub enum Auth {
    /// `X-Pyrus-Sig`: HMAC-SHA1 with the plugin's secret.
    PyrusSig(super::Secret),
    Verifier(Verifier),
}

impl Auth {
    /// The scheme's name, for `routes`.
    pub fn label(&self) -> String {
        match self {
            Auth::PyrusSig(_) => "pyrus-sig".to_owned(),
            Auth::Verifier(v) => v.scheme().to_string(),
        }
    }

    /// The header carrying the sender's credential, kept from the plugin.
    pub fn credential_header(&self) -> Option<&HeaderName> {
        match self {
            Auth::Verifier(verifier) => verifier.credential_header(),
            Auth::PyrusSig(_) => None,
        }
    }
}

/// Builds the check, or says why the plugin cannot be served.
pub fn authenticate(kind: PluginKind, name: &str, settings: &Settings) -> Result<Auth, String> {
    if settings.mount.is_some() && kind != PluginKind::HttpHook {
        return Err(format!(
            "`mount` applies to generic hook plugins only; {name} is a {kind} plugin"
        ));
    }
    if kind.pyrus_signed() {
        if settings.verify.is_some()
            || settings.basic_auth.is_some()
            || settings.token_header.is_some()
        {
            return Err(format!(
                "a {kind} plugin is always checked with X-Pyrus-Sig: remove `verify`/`basic_auth` from {name}.toml"
            ));
        }
        return Ok(Auth::PyrusSig(secret(kind, name, &settings.secret)?));
    }

    let scheme = match (kind, settings.verify.as_deref()) {
        (PluginKind::Worksection, None) if settings.basic_auth.is_some() => Scheme::Basic,
        (PluginKind::Worksection, None) => {
            return Err(format!(
                "a worksection plugin needs `basic_auth = {{ user = \"…\", password = {{ env = \"VAR\" }} }}` (Worksection's http_user/http_pass) or an explicit `verify = \"none\"` in {name}.toml"
            ));
        }
        (_, None) => {
            return Err(format!(
                "a {kind} plugin needs `verify = \"…\"` in {name}.toml (one of {}); `\"none\"` must be said explicitly",
                Scheme::NAMES.join(", ")
            ));
        }
        (_, Some(text)) => text.parse::<Scheme>().map_err(|e| e.to_string())?,
    };
    if kind == PluginKind::Worksection && !matches!(scheme, Scheme::Basic | Scheme::None) {
        return Err(format!(
            "Worksection only sends HTTP basic auth: use `basic_auth = {{ … }}` or `verify = \"none\"`, not {scheme}"
        ));
    }
    // A key the scheme ignores is a misunderstanding waiting to become an
    // open door (a `secret` beside `verify = "none"` protects nothing).
    if scheme != Scheme::Basic && settings.basic_auth.is_some() {
        return Err(format!(
            "basic_auth is set but verify = \"{scheme}\": use verify = \"basic\""
        ));
    }
    if scheme != Scheme::Token && settings.token_header.is_some() {
        return Err(format!(
            "token_header is set but verify = \"{scheme}\" does not read it"
        ));
    }
    if matches!(scheme, Scheme::None | Scheme::Basic) && settings.secret_source.is_some() {
        return Err(format!(
            "`secret` is set but verify = \"{scheme}\" does not use it: remove it or choose a signature scheme"
        ));
    }

    let credentials = match scheme {
        Scheme::None => Credentials::None,
        Scheme::Basic => {
            let Some(basic) = &settings.basic_auth else {
                return Err(format!(
                    "verify = \"basic\" needs `basic_auth = {{ user = \"…\", password = {{ env = \"VAR\" }} }}` in {name}.toml"
                ));
            };
            let password = match &basic.password {
                SecretState::Ready(p) => p.expose().to_vec(),
                SecretState::Unusable(why) => {
                    return Err(format!("basic_auth password unusable: {why}"));
                }
                SecretState::Absent => return Err("basic_auth has no password".to_owned()),
            };
            Credentials::Basic {
                user: basic.user.clone(),
                password: password.into(),
            }
        }
        Scheme::Token => {
            let header = settings
                .token_header
                .as_deref()
                .unwrap_or(DEFAULT_TOKEN_HEADER);
            let header = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("token_header {header:?} is not a header name"))?;
            let token = secret(kind, name, &settings.secret)?;
            Credentials::Token {
                header,
                token: token.expose().into(),
            }
        }
        _ => Credentials::Secret(secret(kind, name, &settings.secret)?.expose().into()),
    };
    Verifier::new(scheme, credentials)
        .map(Auth::Verifier)
        .map_err(|e| format!("verify = \"{scheme}\": {e}"))
}

fn secret(kind: PluginKind, name: &str, state: &SecretState) -> Result<super::Secret, String> {
    match state {
        SecretState::Ready(secret) => Ok(secret.clone()),
        SecretState::Unusable(why) => Err(format!("secret unusable: {why}")),
        SecretState::Absent => Err(format!(
            "a {kind} plugin needs a secret: set `secret = {{ env = \"VAR\" }}` in {name}.toml"
        )),
    }
}
