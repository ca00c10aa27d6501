//! Every input the fuzz targets (`fuzz/`, run by `scripts/fuzz`) found that
//! broke a promise, fed again to the code that broke it, with the answer it
//! must give now. Each input is quoted as the fuzzer saved it (the target's
//! format is in `fuzz/src/lib.rs`), then taken apart the same way.

use std::path::Path;
use std::time::{Duration, Instant};

use hookhost::outbound::{AllowList, suggest_entry, suggest_line};
use hookhost::plugins::sidecar::{MAX_SECRET_FILE_BYTES, SecretState, Settings};

/// The `outbound` target's input: entry, scheme, host, port, ip, one a line.
fn outbound_lines(input: &str) -> Vec<&str> {
    input.split('\n').collect()
}

/// outbound, crash-79927954c8f47016fa49e14774678b279708997b and
/// crash-3f5d90d1453b9a529c5c14a1d5897fa1ef918cf7: a denied request to port
/// 0 got the hint `http://10.0.2.3:0` (or `https://[fd00::1]:0`), an entry
/// that does not parse ("port 0 cannot be connected to"). No entry can name
/// port 0, so there is no hint.
#[test]
fn a_request_to_port_0_gets_no_allow_list_hint() {
    for input in [
        "http://05.0.0.0/8\nhttp\n10.0.2.3\n0\n.1*.1.2.3",
        "https://fd00::/8\nhttps\n[fd00::1]\n0\ndf0::1",
    ] {
        port_0_gets_no_hint(input);
    }
}

fn port_0_gets_no_hint(input: &str) {
    let lines = outbound_lines(input);
    let (scheme, host, port) = (lines[1], lines[2], lines[3].parse::<u16>().ok());
    assert_eq!(port, Some(0));
    assert_eq!(suggest_entry(scheme, host, port), None);
    assert_eq!(suggest_line(scheme, host, port), None);
    // Every other port still gets a hint, and it parses and allows the request.
    for port in [None, Some(1), Some(80), Some(8080), Some(65535)] {
        let hint = suggest_entry(scheme, host, port).unwrap();
        let list = AllowList::parse(&[&hint]).unwrap();
        assert!(list.allows(scheme, host, port), "{hint}");
    }
}

fn parse(sidecar: &str, beside: &Path) -> Settings {
    Settings::parse(sidecar, &beside.join("p.toml")).unwrap()
}

fn unusable(state: &SecretState) -> &str {
    match state {
        SecretState::Unusable(why) => why,
        other => panic!("expected an unusable secret, got {other:?}"),
    }
}

/// sidecar, seed secret-dev-zero: `secret = { file = "/dev/zero" }` was read
/// to the end, which never comes, and ran the fuzzer out of memory (1 GiB in
/// under a second). A secret file must be a regular file.
#[test]
fn a_secret_file_that_is_a_device_is_refused_at_once() {
    let started = Instant::now();
    let settings = parse(
        "secret = { file = \"/dev/zero\" }\n",
        Path::new("/nonexistent"),
    );
    let why = unusable(&settings.secret);
    assert!(
        why.contains("/dev/zero") && why.contains("not a regular file"),
        "{why}"
    );
    let settings = parse(
        "basic_auth = { user = \"u\", password = { file = \"/dev/urandom\" } }\n\
         [config]\nkey = { file = \"/dev/zero\" }\n",
        Path::new("/nonexistent"),
    );
    let why = unusable(&settings.basic_auth.as_ref().unwrap().password);
    assert!(why.contains("not a regular file"), "{why}");
    let why = settings.config_problem().unwrap();
    assert!(
        why.contains("config.key") && why.contains("not a regular file"),
        "{why}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The same for a FIFO, which would have blocked the loader until someone
/// wrote to it.
#[test]
fn a_secret_file_that_is_a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("bot.secret"))
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let settings = parse("secret = { file = \"bot.secret\" }\n", dir.path());
    let why = unusable(&settings.secret);
    assert!(
        why.contains("bot.secret") && why.contains("not a regular file"),
        "{why}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A regular file is read up to the limit and no further; one byte more is
/// refused, saying why. Exactly the limit is still a secret.
#[test]
fn a_secret_file_over_64_kib_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let limit = MAX_SECRET_FILE_BYTES as usize;
    std::fs::write(dir.path().join("big.secret"), vec![b'k'; limit + 1]).unwrap();
    std::fs::write(dir.path().join("max.secret"), vec![b'k'; limit]).unwrap();
    let settings = parse("secret = { file = \"big.secret\" }\n", dir.path());
    let why = unusable(&settings.secret);
    assert!(why.contains("longer than 65536 bytes"), "{why}");
    let settings = parse("secret = { file = \"max.secret\" }\n", dir.path());
    match &settings.secret {
        SecretState::Ready(secret) => assert_eq!(secret.expose().len(), limit),
        other => panic!("expected the secret, got {other:?}"),
    }
}

/// A symlink to a regular file (as Kubernetes mounts secrets) still works.
#[test]
fn a_secret_file_behind_a_symlink_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("real"), "s3cret\n").unwrap();
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("bot.secret")).unwrap();
    let settings = parse("secret = { file = \"bot.secret\" }\n", dir.path());
    match &settings.secret {
        SecretState::Ready(secret) => assert_eq!(secret.expose(), b"s3cret"),
        other => panic!("expected the secret, got {other:?}"),
    }
}

/// plugin_answer, crash-e2ea29da879e1b8c37b67a352527dd326c9ea2f8: a plugin's
/// field value given as JSON text `202e012018` is JSON by its syntax, but a
/// number no reader can hold (serde_json itself refuses it, "number out of
/// range"); it went to Pyrus as it was. Like a non-finite `number`, it is
/// now an answer the protocol cannot carry (502).
#[test]
fn a_comment_field_value_whose_json_number_overflows_is_refused() {
    use hookhost::bindings::exports::hookhost::plugin::pyrus_bot_handler::Comment;
    use hookhost::bindings::hookhost::plugin::pyrus_types::{FieldRef, FieldUpdate, FieldValue};
    use hookhost::protocol::pyrus_bot::comment_json;

    let comment = |json: &str| Comment {
        text: None,
        formatted_text: None,
        approval_choice: None,
        action: None,
        reassign_to: None,
        participants_added: Vec::new(),
        participants_removed: Vec::new(),
        subscribers_added: Vec::new(),
        subscribers_removed: Vec::new(),
        approvals_added: Vec::new(),
        approvals_removed: Vec::new(),
        field_updates: vec![FieldUpdate {
            field: FieldRef::Code("f".into()),
            value: FieldValue::Json(json.into()),
        }],
        due_date: None,
        due: None,
        duration: None,
        spent_minutes: None,
        attachments: Vec::new(),
    };
    for overflowing in ["202e012018", "-1e400", "[1, {\"a\": 1e309}]"] {
        let err = comment_json(comment(overflowing)).unwrap_err();
        assert!(
            err.0
                .starts_with("field value is not valid JSON: number out of range"),
            "{overflowing}: {err}"
        );
    }
    // The largest finite numbers, and big integers, still go as written.
    for fine in [
        "1.7976931348623157e308",
        "-1e-400",
        "123456789012345678901234567890",
    ] {
        let json = comment_json(comment(fine)).unwrap();
        let expected = format!(r#"{{"field_updates":[{{"code":"f","value":{fine}}}]}}"#);
        assert_eq!(String::from_utf8(json).unwrap(), expected);
    }
}
