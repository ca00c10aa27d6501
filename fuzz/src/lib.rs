//! What each fuzz target does with its input, kept here so the targets in
//! `fuzz_targets/` are one line each. Every function must not panic, hang
//! or allocate without bound for any input; where the code documents a
//! promise that can be checked from outside (a signed request verifies, a
//! canonical spelling parses back, a hint parses), the function asserts it,
//! so breaking it is a crash too.
//!
//! Inputs are text-like, so that the committed seeds (`fuzz/seeds/`) can be
//! written and read by hand; each function's comment gives its format.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use hookhost::bindings::http_hook::hookhost::plugin::http_types::Route;
use hookhost::outbound::{AllowList, Entry, suggest_entry};
use hookhost::plugins::sidecar::{SecretSource, SecretState, Settings};
use hookhost::protocol::http_hook::{self, HookRoute, Pattern, declare_routes, split_path};
use hookhost::protocol::{pyrus_bot, pyrus_ext, worksection};
use hookhost::verify::{Credentials, Scheme, Verifier};

/// The server's clock in every verification: any fixed time will do.
const NOW: u64 = 1_700_000_000;

/// Splits at the first `\n`; the rest is empty when there is none.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

// ---- signatures -------------------------------------------------------------

/// The verifiers the targets attack, each with a fixed credential, as a
/// plugin's sidecar would give them.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    Github,
    GithubSha1,
    StandardWebhooks,
    Stripe,
    Slack,
    Shopify,
    PyrusSig,
    /// `token` with a custom `token_header`.
    Token,
    /// `token` with `token_header = "Authorization"` (`Bearer …`).
    Bearer,
    Basic,
}

impl Check {
    fn verifier(self) -> Verifier {
        let secret = |s: &str| Credentials::Secret(s.as_bytes().into());
        let token = |header: &'static str| Credentials::Token {
            header: HeaderName::from_static(header),
            token: b"fuzz-t0ken".as_slice().into(),
        };
        let (scheme, credentials) = match self {
            Check::Github => (Scheme::Github, secret("fuzz-secret")),
            Check::GithubSha1 => (Scheme::GithubSha1, secret("fuzz-secret")),
            Check::StandardWebhooks => (
                Scheme::StandardWebhooks,
                secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ),
            Check::Stripe => (Scheme::Stripe, secret("whsec_fuzz")),
            Check::Slack => (Scheme::Slack, secret("fuzz-secret")),
            Check::Shopify => (Scheme::Shopify, secret("fuzz-secret")),
            Check::PyrusSig => (Scheme::PyrusSig, secret("fuzz-secret")),
            Check::Token => (Scheme::Token, token("x-webhook-token")),
            Check::Bearer => (Scheme::Token, token("authorization")),
            Check::Basic => (
                Scheme::Basic,
                Credentials::Basic {
                    user: "fuzz".into(),
                    password: b"pass:w0rd".as_slice().into(),
                },
            ),
        };
        match Verifier::new(scheme, credentials) {
            Ok(verifier) => verifier,
            Err(e) => panic!("the harness's own credentials for {self:?}: {e}"),
        }
    }

    /// Whether the signature covers the body.
    fn signs_body(self) -> bool {
        !matches!(self, Check::Token | Check::Bearer | Check::Basic)
    }
}

/// A request as a genuine sender signs it, then changed by the input:
///
/// ```text
/// EDIT\n…\n\nBODY
/// ```
///
/// Without a blank line the whole input is the body and nothing is edited.
/// An edit is `name: value` (replace), `+name: value` (add one more),
/// `-name` (remove) or `@now: SECONDS` (the server's clock, off by that
/// much); lines that are none of these are skipped. Unedited, the request
/// must verify, and must not once its body changes.
pub fn verify(check: Check, data: &[u8]) {
    let (edits, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (&[][..], data),
    };
    let verifier = check.verifier();
    let signed_at = UNIX_EPOCH + Duration::from_secs(NOW);
    let mut headers = HeaderMap::new();
    for (name, value) in verifier.sign(body, signed_at) {
        headers.append(name, value);
    }
    let mut now = signed_at;
    let mut edited = false;
    for edit in edits.split(|&b| b == b'\n') {
        edited |= apply(edit, &mut headers, &mut now);
    }
    let result = verifier.verify(&headers, body, now);
    if !edited {
        assert_eq!(result, Ok(()), "{check:?}: a genuinely signed request");
        if check.signs_body() {
            let changed = [body, b"!"].concat();
            assert!(
                verifier.verify(&headers, &changed, now).is_err(),
                "{check:?}: a changed body still verified"
            );
        }
    }
    // Error texts go back to the sender: they must be short and printable.
    if let Err(e) = result {
        let message = e.to_string();
        assert!(message.len() < 200, "{message}");
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }
}

/// Applies one edit line; whether it was one.
fn apply(edit: &[u8], headers: &mut HeaderMap, now: &mut SystemTime) -> bool {
    if let Some(name) = edit.strip_prefix(b"-") {
        return HeaderName::from_bytes(name.trim_ascii())
            .map(|name| headers.remove(name))
            .is_ok();
    }
    let Some(colon) = edit.iter().position(|&b| b == b':') else {
        return false;
    };
    let (name, value) = (&edit[..colon], edit[colon + 1..].trim_ascii());
    if name == b"@now" {
        let Ok(offset) = std::str::from_utf8(value).unwrap_or("").parse::<i64>() else {
            return false;
        };
        let magnitude = Duration::from_secs(offset.unsigned_abs());
        let moved = match offset < 0 {
            true => now.checked_sub(magnitude),
            false => now.checked_add(magnitude),
        };
        return moved.map(|moved| *now = moved).is_some();
    }
    let (add, name) = match name.strip_prefix(b"+") {
        Some(name) => (true, name),
        None => (false, name),
    };
    let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
    else {
        return false;
    };
    if add {
        headers.append(name, value);
    } else {
        headers.insert(name, value);
    }
    true
}

/// Credentials from the one credential a scheme hides.
type MakeCredentials = Box<dyn Fn(&[u8]) -> Credentials>;

/// Credentials as a sidecar could give them, for every scheme:
///
/// ```text
/// S CREDENTIAL\nSECOND\nBODY
/// ```
///
/// The first byte picks the scheme. The secret is the first line (for
/// `token`, the header name, with the token as the second line; for
/// `basic`, the user, with the password second). Whatever credentials are
/// accepted must sign a request that verifies, and their `Debug` must not
/// show them.
pub fn verify_credentials(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let scheme = Scheme::ALL[usize::from(pick) % Scheme::ALL.len()];
    let (first, rest) = line(rest);
    let (second, body) = line(rest);
    // The credential that `Debug` must hide, and the credentials with it
    // or with a stand-in (whose `Debug` shows what may be shown).
    let (shown, make): (&[u8], MakeCredentials) = match scheme {
        Scheme::Token => {
            let Ok(header) = HeaderName::from_bytes(first) else {
                return;
            };
            let make = move |token: &[u8]| Credentials::Token {
                header: header.clone(),
                token: token.into(),
            };
            (second, Box::new(make))
        }
        Scheme::Basic => {
            let user = text(first);
            let make = move |password: &[u8]| Credentials::Basic {
                user: user.clone(),
                password: password.into(),
            };
            (second, Box::new(make))
        }
        Scheme::None => (&[][..], Box::new(|_: &[u8]| Credentials::None)),
        _ => (
            first,
            Box::new(|secret: &[u8]| Credentials::Secret(secret.into())),
        ),
    };
    let credentials = make(shown);
    let needle = String::from_utf8_lossy(shown);
    let hidden = shown.len() >= 4 && !format!("{:?}", make(b"\x01")).contains(&*needle);
    if hidden {
        assert!(
            !format!("{credentials:?}").contains(&*needle),
            "{scheme}: Debug shows the credential"
        );
    }
    let Ok(verifier) = Verifier::new(scheme, credentials) else {
        return;
    };
    // `Debug` of a verifier keyed with a stand-in (base64, for
    // standard-webhooks) shows what may be shown.
    let stand_in = Verifier::new(scheme, make(b"c3RhbmQtaW4"));
    if hidden && !format!("{stand_in:?}").contains(&*needle) {
        assert!(
            !format!("{verifier:?}").contains(&*needle),
            "{scheme}: the verifier's Debug shows the credential"
        );
    }
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let mut headers = HeaderMap::new();
    for (name, value) in verifier.sign(body, now) {
        headers.append(name, value);
    }
    assert_eq!(
        verifier.verify(&headers, body, now),
        Ok(()),
        "{scheme}: accepted credentials sign a request that does not verify"
    );
}

// ---- protocols ----------------------------------------------------------------

/// A Pyrus bot call: the whole input is the body; its first line is also
/// tried as the `X-Pyrus-Retry` header.
pub fn pyrus_bot(data: &[u8]) {
    let (first, _) = line(data);
    let retry = HeaderValue::from_bytes(first).ok();
    let retry = match pyrus_bot::parse_retry(retry.as_ref()) {
        Ok(retry) => {
            assert!(1 <= retry.attempt && retry.attempt <= retry.max_attempts);
            retry
        }
        Err(_) => match pyrus_bot::parse_retry(None) {
            Ok(first) => first,
            Err(e) => panic!("an absent X-Pyrus-Retry is refused: {e}"),
        },
    };
    if let Ok(event) = pyrus_bot::parse_event(Bytes::copy_from_slice(data), retry) {
        // The plugin gets the verified body unchanged in `raw-json`.
        assert_eq!(event.raw_json.as_bytes(), data);
    }
}

/// The Pyrus extension calls: the input goes to every body parser
/// (authorize, toggle, event, sendmessage) and, as text, to the
/// `getavailablenumbers` query parser.
pub fn pyrus_ext(data: &[u8]) {
    let _ = pyrus_ext::parse_authorize(data);
    let _ = pyrus_ext::parse_toggle(data);
    if let Ok(event) = pyrus_ext::parse_event(Bytes::copy_from_slice(data)) {
        assert_eq!(event.raw_json.as_bytes(), data);
    }
    let _ = pyrus_ext::parse_message(data);
    let _ = pyrus_ext::parse_numbers_query(&text(data));
}

/// A Worksection delivery: the whole input is the body. Every element is
/// an event or a skip reason, and every event can be summarised.
pub fn worksection(data: &[u8]) {
    let Ok(delivery) = worksection::parse_delivery(data) else {
        return;
    };
    for event in &delivery.events {
        let _ = worksection::summary(event);
        assert!(!event.raw_json.is_empty());
    }
}

/// A generic hook's body decoding:
///
/// ```text
/// CONTENT-TYPE\nFORM-PARAM\nBODY
/// ```
///
/// An empty first line sends no `Content-Type`; an empty second line means
/// the route takes the whole form.
pub fn hook_body(data: &[u8]) {
    let (content_type, rest) = line(data);
    let (form_param, body) = line(rest);
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(content_type)
        && !content_type.is_empty()
    {
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    let route = |raw| {
        let Ok(pattern) = Pattern::parse("/fuzz/<name>") else {
            panic!("the harness's own rule does not parse");
        };
        HookRoute {
            pattern,
            rule: "/fuzz/<name>".into(),
            methods: vec!["POST".into()],
            form_param: (!form_param.is_empty()).then(|| text(form_param)),
            raw,
            own_mount: true,
        }
    };
    use hookhost::bindings::http_hook::hookhost::plugin::http_types::DecodedBody;
    match http_hook::decode(&route(false), &headers, body) {
        // Whole-body JSON is handed over as sent, not re-encoded.
        Ok(DecodedBody::Json(json)) => assert_eq!(json.as_bytes(), body),
        Ok(DecodedBody::Form(_)) => assert!(form_param.is_empty()),
        _ => {}
    }
    // A raw route never decodes, so never refuses a body.
    assert!(http_hook::decode(&route(true), &headers, body).is_ok());
}

/// A generic hook's URI rules:
///
/// ```text
/// MOUNT\nRULE\nPATH\nMETHOD…
/// ```
///
/// The mount and the rule are parsed (a parsed rule prints as text that
/// parses back to it), the rule is declared under the mount with the
/// methods (one per remaining line), and the request path is matched.
pub fn hook_rules(data: &[u8]) {
    let (mount, rest) = line(data);
    let (rule, rest) = line(rest);
    let (path, methods) = line(rest);
    let (mount, rule, path) = (text(mount), text(rule), text(path));
    for text in [&mount, &rule] {
        if let Ok(pattern) = Pattern::parse(text) {
            let printed = pattern.to_string();
            assert_eq!(
                Pattern::parse(&printed),
                Ok(pattern),
                "{text:?} → {printed:?}"
            );
        }
    }
    let mount =
        Pattern::parse_mount(&mount).unwrap_or_else(|_| match Pattern::parse("/hooks/fuzz") {
            Ok(own) => own,
            Err(e) => panic!("{e}"),
        });
    let methods = methods
        .split(|&b| b == b'\n')
        .filter(|m| !m.is_empty())
        .map(text)
        .collect();
    let declared = Route {
        rule: rule.clone(),
        methods,
        form_param: None,
        raw: false,
    };
    let Ok(routes) = declare_routes(&mount, true, vec![declared]) else {
        return;
    };
    // The host's own routes are reserved, as the server reserves them.
    let reserved: Vec<Pattern> = ["/pyrus/<plugin>", "/hooks/fuzz/<rule>"]
        .iter()
        .filter_map(|rule| Pattern::parse(rule).ok())
        .collect();
    let _ = hookhost::plugins::HookTable::new(&reserved).conflict(&routes);
    let Some(segments) = split_path(&path) else {
        return;
    };
    for route in &routes {
        assert!(route.pattern.overlaps(&route.pattern));
        let _ = route.describe();
        if let Some(params) = route.pattern.matches(&segments) {
            assert!(params.iter().all(|(_, value)| !value.is_empty()));
        }
    }
}

/// An `allowed_outbound_hosts` entry and a request checked against it:
///
/// ```text
/// ENTRY\nSCHEME\nHOST\nPORT\nIP
/// ```
///
/// An entry that parses prints (`Display`) as one that parses back to it;
/// the entry suggested for a denied request parses and allows it.
pub fn outbound(data: &[u8]) {
    let (entry, rest) = line(data);
    let (scheme, rest) = line(rest);
    let (host, rest) = line(rest);
    let (port, ip) = line(rest);
    let (entry, scheme, host) = (text(entry), text(scheme), text(host));
    let port = text(port).parse::<u16>().ok();
    let ip = text(ip).trim().parse().ok();
    if let Ok(parsed) = Entry::parse(&entry) {
        let printed = parsed.to_string();
        assert_eq!(
            Entry::parse(&printed).as_ref(),
            Ok(&parsed),
            "{entry:?} prints as {printed:?}"
        );
    }
    if let Ok(list) = AllowList::parse(&[&entry]) {
        let allowed = list.allows(&scheme, &host, port);
        if let Some(ip) = ip {
            let connect = list.check_connect(&scheme, &host, port, ip);
            assert!(
                allowed || connect.is_err(),
                "connects where it may not send"
            );
        }
    }
    if let Some(suggestion) = suggest_entry(&scheme, &host, port) {
        match AllowList::parse(&[&suggestion]) {
            Ok(list) => assert!(
                list.allows(&scheme, &host, port),
                "{suggestion:?} does not allow {scheme}://{host} port {port:?}"
            ),
            Err(e) => panic!("the suggested entry does not parse: {e}"),
        }
    }
}

/// A sidecar `NAME.toml`: the whole input is its text. Relative secret
/// files are looked for in a folder that does not exist. A parsed sidecar's
/// `Debug` never shows an inline secret or password.
pub fn sidecar(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(settings) = Settings::parse(text, Path::new("/nonexistent/hookhost-fuzz/p.toml")) else {
        return;
    };
    let inline = |source: Option<&SecretSource>| match source {
        Some(SecretSource::Value(value)) if value.len() >= 6 => Some(value.clone()),
        _ => None,
    };
    let mut secrets: Vec<String> = Vec::new();
    secrets.extend(inline(settings.secret_source.as_ref()));
    if let Some(basic) = &settings.basic_auth {
        secrets.extend(inline(Some(&basic.password_source)));
        let _ = format!("{basic:?}");
    }
    let shown = format!(
        "{:?} {:?} {:?}",
        settings.secret,
        settings.secret_source,
        settings
            .basic_auth
            .as_ref()
            .map(|b| (&b.password, &b.password_source))
    );
    for secret in secrets {
        assert!(!shown.contains(&secret), "Debug shows an inline secret");
    }
    if let SecretState::Ready(secret) = &settings.secret {
        assert!(!secret.expose().is_empty());
    }
    let _ = settings.plugin_config();
    let _ = settings.config_problem();
}

// ---- what plugins answer ------------------------------------------------------

/// What a plugin may answer, which a hostile plugin chooses byte by byte:
///
/// ```text
/// STATUS\nNAME: VALUE\n…\n\nBODY
/// ```
///
/// The status, headers and body are a generic hook's response; each line
/// of the whole input is also a Pyrus comment's text, an email, a field
/// code and a field value (as text, as JSON and, from its length, as a
/// number). What the host sends on must be a valid HTTP response and valid
/// JSON.
pub fn plugin_answer(data: &[u8]) {
    use hookhost::bindings::exports::hookhost::plugin::pyrus_bot_handler::Comment;
    use hookhost::bindings::hookhost::plugin::pyrus_types::{
        FieldRef, FieldUpdate, FieldValue, PersonRef,
    };
    use hookhost::bindings::hookhost::plugin::types::Field;
    use hookhost::bindings::http_hook::hookhost::plugin::http_types::Response;

    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let (status, headers) = line(head);
    let headers: Vec<Field> = headers
        .split(|&b| b == b'\n')
        .filter_map(|h| {
            let (key, value) = text(h)
                .split_once(':')
                .map(|(k, v)| (k.into(), v.trim().into()))?;
            Some(Field { key, value })
        })
        .collect();
    let response = Response {
        status: text(status).trim().parse().unwrap_or(200),
        headers,
        body: body.to_vec(),
    };
    if let Ok((status, map, sent)) = http_hook::response(Some(response)) {
        assert!((200..600).contains(&status.as_u16()));
        assert!(!map.contains_key(http::header::CONTENT_LENGTH));
        assert!(sent.is_empty() || map.contains_key(http::header::CONTENT_TYPE));
    }

    let lines: Vec<String> = data.split(|&b| b == b'\n').map(text).collect();
    let person = |s: &String| PersonRef::Email(s.clone());
    let field_updates = lines
        .iter()
        .flat_map(|s| {
            let number = f64::from_bits((s.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            [
                FieldValue::Text(s.clone()),
                FieldValue::Json(s.clone()),
                FieldValue::Number(number),
            ]
            .map(|value| FieldUpdate {
                field: FieldRef::Code(s.clone()),
                value,
            })
        })
        .collect();
    let comment = Comment {
        text: lines.first().cloned(),
        formatted_text: lines.get(1).cloned(),
        approval_choice: None,
        action: None,
        reassign_to: lines.first().map(person),
        participants_added: lines.iter().map(person).collect(),
        participants_removed: Vec::new(),
        subscribers_added: Vec::new(),
        subscribers_removed: Vec::new(),
        approvals_added: vec![lines.iter().map(person).collect()],
        approvals_removed: Vec::new(),
        field_updates,
        due_date: lines.get(2).cloned(),
        due: None,
        duration: Some(u32::MAX),
        spent_minutes: None,
        attachments: lines.clone(),
    };
    if let Ok(json) = pyrus_bot::comment_json(comment) {
        assert!(
            serde_json_ok(&json),
            "the comment sent to Pyrus is not JSON: {}",
            String::from_utf8_lossy(&json)
        );
    }
}

/// Whether `bytes` is one JSON value. serde_json stops at 128 levels, which
/// a plugin's JSON field value plus the comment around it can pass: deeper
/// answers are not checked.
fn serde_json_ok(bytes: &[u8]) -> bool {
    let depth = bytes.iter().filter(|&&b| b == b'[' || b == b'{').count();
    depth > 100 || serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}
