//! A small working Pyrus extension service. It connects accounts by login and
//! password or by OAuth, checked against its `[config]`, logs the events and
//! messages Pyrus sends, and lists the phone numbers from its config.
//!
//! Config keys: `login`, `password`, `account_id`, `account_name`,
//! `oauth_code`, `blocked_channel`, `numbers` (comma-separated).

wit_bindgen::generate!({
    world: "pyrus-ext",
    path: "../../wit",
});

use exports::hookhost::plugin::pyrus_ext_handler::Guest;
use hookhost::plugin::host::{self, Level};
use hookhost::plugin::pyrus_ext_types::{
    Account, AccountAuth, AuthorizeRequest, Credential, ErrorCode, EventType, ExtError, GrantType,
    OauthRequest, OutgoingMessage, Resolution, TaskEvent, ToggleRequest,
};
use hookhost::plugin::pyrus_types::Retry;

struct ExtDemo;

impl Guest for ExtDemo {
    fn authorize(request: AuthorizeRequest, _retry: Retry) -> Result<Account, ExtError> {
        match request {
            AuthorizeRequest::Credentials(credentials) => by_credentials(&credentials),
            AuthorizeRequest::Oauth(oauth) => by_oauth(&oauth),
        }
    }

    fn toggle(request: ToggleRequest, _retry: Retry) -> Result<(), ExtError> {
        if !valid_auth(&request.auth) {
            return Err(error(ErrorCode::BadCredentials, "unknown account"));
        }
        let state = if request.enabled {
            "enabled"
        } else {
            "disabled"
        };
        host::log(Level::Info, &format!("notifications {state}"));
        Ok(())
    }

    fn event(event: TaskEvent, _retry: Retry) -> Result<(), ExtError> {
        let event_type = match &event.event_type {
            EventType::Create => "create",
            EventType::Close => "close",
            EventType::Comment => "comment",
            EventType::Other(other) => other.as_str(),
        };
        let (person, resolution) = match &event.event_person {
            Some(p) => (
                format!(
                    "{} {} (#{})",
                    p.person.first_name, p.person.last_name, p.person.user_id
                ),
                match p.resolution {
                    Some(Resolution::Approved) => "approved",
                    Some(Resolution::Rejected) => "rejected",
                    Some(Resolution::Acknowledged) => "acknowledged",
                    Some(Resolution::Later) => "later",
                    None => "none",
                },
            ),
            None => (String::from("nobody"), "none"),
        };
        let mappings: Vec<String> = event
            .mappings
            .iter()
            .map(|m| format!("{}={}", m.code, m.value))
            .collect();
        host::log(
            Level::Info,
            &format!(
                "task {} {event_type} by {person}, resolution {resolution}, mappings [{}]",
                event.task_id,
                mappings.join(", ")
            ),
        );
        Ok(())
    }

    fn send_message(message: OutgoingMessage, _retry: Retry) -> Result<(), ExtError> {
        if host::get_config("blocked_channel").is_some_and(|c| c == message.channel_id) {
            return Err(error(
                ErrorCode::AccountBlockedByUser,
                "the channel's user blocked this account",
            ));
        }
        let attachments: Vec<String> = message
            .attachment_ids
            .iter()
            .map(ToString::to_string)
            .collect();
        host::log(
            Level::Info,
            &format!(
                "message to channel {} ({}): {:?}, attachments [{}]",
                message.channel_id,
                message.message_type,
                message.message_text,
                attachments.join(", ")
            ),
        );
        Ok(())
    }

    fn available_numbers(auth: AccountAuth, _retry: Retry) -> Result<Vec<String>, ExtError> {
        if !valid_auth(&auth) {
            return Err(error(ErrorCode::BadCredentials, "unknown account"));
        }
        Ok(host::get_config("numbers")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect())
    }
}

fn by_credentials(credentials: &[Credential]) -> Result<Account, ExtError> {
    if !credentials_match(credentials) {
        return Err(error(ErrorCode::NoAccount, "wrong login or password"));
    }
    let login = credential(credentials, "login").unwrap_or_default();
    host::log(Level::Info, &format!("account {login} connected"));
    Ok(Account {
        account_id: host::get_config("account_id").unwrap_or_else(|| format!("demo-{login}")),
        account_name: host::get_config("account_name").unwrap_or_else(|| login.to_string()),
        access_token: None,
        refresh_token: None,
    })
}

fn by_oauth(oauth: &OauthRequest) -> Result<Account, ExtError> {
    let suffix = match oauth.grant_type {
        GrantType::AuthorizationCode => {
            let expected = host::get_config("oauth_code");
            match oauth.code.as_deref() {
                Some(code) if expected.as_deref() == Some(code) => code.to_string(),
                _ => {
                    return Err(error(
                        ErrorCode::BadAuthorizationCode,
                        "unknown authorization code",
                    ));
                }
            }
        }
        GrantType::RefreshToken => match oauth
            .refresh_token
            .as_deref()
            .and_then(|t| t.strip_prefix("rt-"))
        {
            Some(rest) => rest.to_string(),
            None => return Err(error(ErrorCode::BadRefreshToken, "unknown refresh token")),
        },
    };
    host::log(Level::Info, "account connected by OAuth");
    Ok(Account {
        account_id: host::get_config("account_id").unwrap_or_else(|| String::from("demo-oauth")),
        account_name: host::get_config("account_name")
            .unwrap_or_else(|| String::from("Demo OAuth account")),
        access_token: Some(format!("at-{suffix}")),
        refresh_token: Some(format!("rt-{suffix}")),
    })
}

/// An access token this extension issued, or the configured login and password.
fn valid_auth(auth: &AccountAuth) -> bool {
    auth.access_token
        .as_deref()
        .is_some_and(|t| t.starts_with("at-"))
        || credentials_match(&auth.credentials)
}

fn credentials_match(credentials: &[Credential]) -> bool {
    let (Some(login), Some(password)) = (host::get_config("login"), host::get_config("password"))
    else {
        return false;
    };
    credential(credentials, "login") == Some(login.as_str())
        && credential(credentials, "password") == Some(password.as_str())
}

fn credential<'a>(credentials: &'a [Credential], code: &str) -> Option<&'a str> {
    credentials
        .iter()
        .find(|c| c.code == code)
        .map(|c| c.value.as_str())
}

fn error(code: ErrorCode, message: &str) -> ExtError {
    ExtError {
        code,
        message: Some(message.to_string()),
    }
}

export!(ExtDemo);
