//! A Pyrus extension for the host's tests. Its `[config] mode` picks how it
//! behaves: `ok` (the default), `error`, `slow` or `trap`. Each call logs one
//! line the tests can wait for, with what the host passed in.

wit_bindgen::generate!({
    world: "pyrus-ext",
    path: "../../../../wit",
});

use exports::hookhost::plugin::pyrus_ext_handler::Guest;
use hookhost::plugin::host::{self, Level};
use hookhost::plugin::pyrus_ext_types::{
    Account, AccountAuth, AuthorizeRequest, Credential, ErrorCode, EventType, ExtError, GrantType,
    OutgoingMessage, Resolution, TaskEvent, ToggleRequest,
};
use hookhost::plugin::pyrus_types::Retry;

struct TestExt;

impl Guest for TestExt {
    fn authorize(request: AuthorizeRequest, retry: Retry) -> Result<Account, ExtError> {
        behave("authorize")?;
        let (details, oauth) = match &request {
            AuthorizeRequest::Credentials(credentials) => (
                format!("credentials={}", credentials_text(credentials)),
                false,
            ),
            AuthorizeRequest::Oauth(o) => (
                format!(
                    "oauth grant={} code={} refresh_token={} client_id={} client_secret={} scope={} redirect_uri={}",
                    match o.grant_type {
                        GrantType::AuthorizationCode => "authorization-code",
                        GrantType::RefreshToken => "refresh-token",
                    },
                    opt(&o.code),
                    opt(&o.refresh_token),
                    opt(&o.client_id),
                    opt(&o.client_secret),
                    opt(&o.scope),
                    opt(&o.redirect_uri),
                ),
                true,
            ),
        };
        ok_line("authorize", &details, &retry);
        Ok(Account {
            account_id: "acc-1".into(),
            account_name: "Test account".into(),
            access_token: oauth.then(|| "test-access-token".into()),
            refresh_token: oauth.then(|| "test-refresh-token".into()),
        })
    }

    fn toggle(request: ToggleRequest, retry: Retry) -> Result<(), ExtError> {
        behave("toggle")?;
        ok_line(
            "toggle",
            &format!("enabled={} {}", request.enabled, auth_text(&request.auth)),
            &retry,
        );
        Ok(())
    }

    fn event(event: TaskEvent, retry: Retry) -> Result<(), ExtError> {
        behave("event")?;
        let event_type = match &event.event_type {
            EventType::Create => "create",
            EventType::Close => "close",
            EventType::Comment => "comment",
            EventType::Other(other) => other.as_str(),
        };
        let person = event
            .event_person
            .as_ref()
            .map_or_else(|| "-".to_string(), |p| p.person.user_id.to_string());
        let resolution = match event.event_person.as_ref().and_then(|p| p.resolution) {
            Some(Resolution::Approved) => "approved",
            Some(Resolution::Rejected) => "rejected",
            Some(Resolution::Acknowledged) => "acknowledged",
            Some(Resolution::Later) => "later",
            None => "-",
        };
        let mappings: Vec<String> = event
            .mappings
            .iter()
            .map(|m| format!("{}={}", m.code, m.value))
            .collect();
        let responsible = event
            .responsible_person
            .as_ref()
            .map_or_else(|| "-".to_string(), |p| p.user_id.to_string());
        ok_line(
            "event",
            &format!(
                "task={} type={event_type} person={person} resolution={resolution} mappings={} responsible={responsible} {} raw_len={}",
                event.task_id,
                mappings.join(","),
                auth_text(&event.auth),
                event.raw_json.len(),
            ),
            &retry,
        );
        Ok(())
    }

    fn send_message(message: OutgoingMessage, retry: Retry) -> Result<(), ExtError> {
        behave("send-message")?;
        let attachments: Vec<String> = message
            .attachment_ids
            .iter()
            .map(ToString::to_string)
            .collect();
        ok_line(
            "send-message",
            &format!(
                "channel={} type={} text={} attachments={} {}",
                message.channel_id,
                message.message_type,
                message.message_text,
                attachments.join(","),
                auth_text(&message.auth),
            ),
            &retry,
        );
        Ok(())
    }

    fn available_numbers(auth: AccountAuth, retry: Retry) -> Result<Vec<String>, ExtError> {
        behave("available-numbers")?;
        ok_line("available-numbers", &auth_text(&auth), &retry);
        Ok(vec![
            "2043".into(),
            "8 800 111-22-33".into(),
            "support phone".into(),
        ])
    }
}

/// Applies `mode`: returns for `ok`, sleeps first for `slow`, answers the
/// configured error for `error`, panics for `trap`.
fn behave(call: &str) -> Result<(), ExtError> {
    let mode = host::get_config("mode").unwrap_or_default();
    match mode.as_str() {
        "" | "ok" => Ok(()),
        "slow" => {
            let ms: u64 = host::get_config("slow_ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Ok(())
        }
        "error" => {
            let name = host::get_config("error_code").unwrap_or_default();
            let code = error_code(&name);
            let message = host::get_config("error_message").unwrap_or_else(|| "failed".into());
            host::log(
                Level::Info,
                &format!("{call} error code={name} message={message}"),
            );
            Err(ExtError {
                code,
                message: Some(message),
            })
        }
        "trap" => panic!("test-ext was told to trap in {call}"),
        other => Err(ExtError {
            code: ErrorCode::InternalError,
            message: Some(format!("unknown mode {other}")),
        }),
    }
}

/// The error code named in kebab case; anything else is `internal-error`.
fn error_code(name: &str) -> ErrorCode {
    match name {
        "bad-credentials" => ErrorCode::BadCredentials,
        "no-account" => ErrorCode::NoAccount,
        "bad-authorization-code" => ErrorCode::BadAuthorizationCode,
        "bad-refresh-token" => ErrorCode::BadRefreshToken,
        "account-blocked-by-user" => ErrorCode::AccountBlockedByUser,
        "external-error" => ErrorCode::ExternalError,
        _ => ErrorCode::InternalError,
    }
}

fn ok_line(call: &str, details: &str, retry: &Retry) {
    host::log(
        Level::Info,
        &format!(
            "{call} ok {details} retry={}/{}",
            retry.attempt, retry.max_attempts
        ),
    );
}

fn auth_text(auth: &AccountAuth) -> String {
    format!(
        "token={} credentials={}",
        opt(&auth.access_token),
        credentials_text(&auth.credentials)
    )
}

fn credentials_text(credentials: &[Credential]) -> String {
    let pairs: Vec<String> = credentials
        .iter()
        .map(|c| format!("{}={}", c.code, c.value))
        .collect();
    pairs.join(",")
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("-")
}

export!(TestExt);
