//! How a plugin's senders prove who they are, from its kind and sidecar.
//! Fails closed: a plugin whose check cannot be set up is not served.

use axum::http::HeaderName;

use super::delivery_policy::Mode;
use super::sidecar::{SecretState, Settings};
use crate::protocol::PluginKind;
use crate::verify::{Credentials, Scheme, Verifier};

/// The header the `token` scheme reads when the sidecar names none.
pub const DEFAULT_TOKEN_HEADER: &str = "x-webhook-token";

/// The check every request to a plugin passes before its body is parsed, or
/// why the plugin cannot be served.
pub fn authenticate(kind: PluginKind, name: &str, settings: &Settings) -> Result<Verifier, String> {
    if settings.delivery.mode == Mode::Async && kind != PluginKind::HttpHook {
        return Err(format!(
            "`mode = \"async\"` applies to generic hook plugins only; {name} is a {kind} plugin"
        ));
    }
    if settings.mount.is_some() && kind != PluginKind::HttpHook {
        return Err(format!(
            "`mount` applies to generic hook plugins only; {name} is a {kind} plugin"
        ));
    }
    let scheme = scheme(kind, name, settings)?;
    refuse_unused(scheme, settings)?;
    let credentials = credentials(scheme, kind, name, settings)?;
    Verifier::new(scheme, credentials).map_err(|e| format!("verify = \"{scheme}\": {e}"))
}

/// The scheme the kind or the sidecar says, which for generic hooks must be
/// said explicitly, `"none"` included.
fn scheme(kind: PluginKind, name: &str, settings: &Settings) -> Result<Scheme, String> {
    if kind.pyrus_signed() {
        if settings.verify.is_some()
            || settings.basic_auth.is_some()
            || settings.token_header.is_some()
        {
            return Err(format!(
                "a {kind} plugin is always checked with X-Pyrus-Sig: remove `verify`/`basic_auth` from {name}.toml"
            ));
        }
        return Ok(Scheme::PyrusSig);
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
    Ok(scheme)
}

/// A key the scheme ignores is a misunderstanding waiting to become an open
/// door (a `secret` beside `verify = "none"` protects nothing).
fn refuse_unused(scheme: Scheme, settings: &Settings) -> Result<(), String> {
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
    Ok(())
}

fn credentials(
    scheme: Scheme,
    kind: PluginKind,
    name: &str,
    settings: &Settings,
) -> Result<Credentials, String> {
    let secret = || secret(kind, name, &settings.secret);
    Ok(match scheme {
        Scheme::None => Credentials::None,
        Scheme::Basic => basic(name, settings)?,
        Scheme::Token => {
            let header = settings
                .token_header
                .as_deref()
                .unwrap_or(DEFAULT_TOKEN_HEADER);
            let header = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("token_header {header:?} is not a header name"))?;
            Credentials::Token {
                header,
                token: secret()?.expose().into(),
            }
        }
        _ => Credentials::Secret(secret()?.expose().into()),
    })
}

fn basic(name: &str, settings: &Settings) -> Result<Credentials, String> {
    let Some(basic) = &settings.basic_auth else {
        return Err(format!(
            "verify = \"basic\" needs `basic_auth = {{ user = \"…\", password = {{ env = \"VAR\" }} }}` in {name}.toml"
        ));
    };
    let password = match &basic.password {
        SecretState::Ready(p) => p.expose().to_vec(),
        SecretState::Unusable(why) => return Err(format!("basic_auth password unusable: {why}")),
        SecretState::Absent => return Err("basic_auth has no password".to_owned()),
    };
    Ok(Credentials::Basic {
        user: basic.user.clone(),
        password: password.into(),
    })
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
