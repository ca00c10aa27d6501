//! `hookhost test` (one request through the whole pipeline, in-process) and
//! `hookhost routes` (every route of every kind) on real plugins.

mod support;

use std::path::Path;

use support::*;

const GITHUB_FORM: &str = "tests/fixtures/errbot-github-form.txt";

fn test_cmd(plugins: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--plugins", plugins.to_str().unwrap()]);
    let out = cli(&all, env);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(path: &str) -> String {
    format!("@{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn test_runs_errbot_examples_without_a_server() {
    let plugins = Plugins::new();
    plugins.add(
        "errbot-examples",
        &guest("errbot-examples"),
        "verify = \"none\"",
    );
    let dir = plugins.path();

    let (ok, out, err) = test_cmd(dir, &["/hooks/errbot-examples/test"], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.starts_with("POST /hooks/errbot-examples/test\n"),
        "{out}"
    );
    assert!(out.contains("\n200 OK\n"), "{out}");
    assert!(
        out.contains("content-type: text/plain; charset=utf-8"),
        "{out}"
    );
    assert!(out.ends_with("\nOK\n"), "{out}");

    // errbot's `!webhook test /github payload=…`, body from a file.
    let (ok, out, _) = test_cmd(
        dir,
        &["/hooks/errbot-examples/github", &fixture(GITHUB_FORM)],
        &[],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("content-type: application/x-www-form-urlencoded (detected)"),
        "{out}"
    );
    assert!(out.ends_with("Commit on test!\n"), "{out}");

    let (ok, out, _) = test_cmd(
        dir,
        &[
            "/hooks/errbot-examples/raw",
            "-H",
            "User-Agent: probe/2",
            "--method",
            "get",
        ],
        &[],
    );
    assert!(ok, "{out}");
    assert!(out.starts_with("GET /hooks/errbot-examples/raw"), "{out}");
    assert!(out.ends_with("Your user-agent is probe/2\n"), "{out}");

    let (ok, out, _) = test_cmd(dir, &["/hooks/errbot-examples/json", r#"{"a":1}"#], &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("content-type: application/json (detected)"),
        "{out}"
    );
    assert!(out.ends_with("{\"received\":{\"a\":1}}\n"), "{out}");

    // A non-success status is printed and makes the exit code non-zero.
    let (ok, out, _) = test_cmd(dir, &["/hooks/errbot-examples/forbidden"], &[]);
    assert!(!ok);
    assert!(
        out.contains("\n403 Forbidden\n") && out.ends_with("Forbidden\n"),
        "{out}"
    );
    let (ok, out, _) = test_cmd(dir, &["/hooks/errbot-examples/missing"], &[]);
    assert!(!ok);
    assert!(out.contains("404 Not Found"), "{out}");
}

#[test]
fn sign_uses_the_plugins_own_secret_and_scheme() {
    let plugins = Plugins::new();
    plugins.add(
        "gh",
        &guest("errbot-examples"),
        "verify = \"github\"\nsecret = { env = \"CLI_TEST_GH_SECRET\" }",
    );
    plugins.add(
        "echo-bot",
        &echo_bot(),
        "secret = { env = \"CLI_TEST_BOT_SECRET\" }",
    );
    plugins.add(
        "ws",
        &guest("test-worksection"),
        "basic_auth = { user = \"worksection\", password = { env = \"CLI_TEST_WS_PASSWORD\" } }",
    );
    plugins.add(
        "ext",
        &guest("test-ext"),
        "secret = { env = \"CLI_TEST_BOT_SECRET\" }",
    );
    let env = [
        ("CLI_TEST_GH_SECRET", "gh-cli-secret"),
        ("CLI_TEST_BOT_SECRET", "bot-cli-secret"),
        ("CLI_TEST_WS_PASSWORD", "ws-cli-password"),
    ];
    let dir = plugins.path();

    let (ok, out, _) = test_cmd(dir, &["/hooks/gh/test"], &env);
    assert!(!ok);
    assert!(
        out.contains("401 Unauthorized") && out.contains("X-Hub-Signature-256"),
        "{out}"
    );
    let (ok, out, err) = test_cmd(dir, &["/hooks/gh/test", "--sign"], &env);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("signed: github (x-hub-signature-256)"),
        "{out}"
    );
    assert!(out.ends_with("\nOK\n"), "{out}");

    let (ok, out, _) = test_cmd(
        dir,
        &[
            "/pyrus/echo-bot",
            &fixture("tests/fixtures/pyrus-bot-example.json"),
            "--sign",
        ],
        &env,
    );
    assert!(ok, "{out}");
    assert!(out.contains("signed: pyrus-sig (x-pyrus-sig)"), "{out}");
    assert!(out.ends_with(&format!("{EXAMPLE_ANSWER}\n")), "{out}");

    let delivery = r#"[{"action":"post","object":{"type":"task","id":"77","page":"/p/1/77/"},"user_from":{"email":"cli@example.com"}}]"#;
    let (ok, out, err) = test_cmd(dir, &["/worksection/ws", delivery, "--sign"], &env);
    assert!(ok, "{out}\n{err}");
    assert!(out.ends_with("{\"status\":\"OK\"}\n"), "{out}");
    // The plugin runs after the answer; `test` waits for it and shows its log.
    assert!(
        err.contains("ws event action=post kind=task id=77 user=cli@example.com"),
        "{err}"
    );

    // GET by default where a route takes only GET; signed over the empty body.
    let (ok, out, _) = test_cmd(dir, &["/pyrus-ext/ext/pulse", "--sign"], &env);
    assert!(ok, "{out}");
    assert!(
        out.starts_with("GET /pyrus-ext/ext/pulse\n") && out.contains("200 OK"),
        "{out}"
    );
    let (ok, out, _) = test_cmd(
        dir,
        &[
            "/pyrus-ext/ext/getavailablenumbers?access_token=t1",
            "--sign",
        ],
        &env,
    );
    assert!(ok, "{out}");
    assert!(
        out.contains(r#"{"numbers":["2043","8 800 111-22-33","support phone"]}"#),
        "{out}"
    );

    // Secrets never appear in what `test` prints.
    let (_, out, err) = test_cmd(dir, &["/hooks/gh/test", "--sign"], &env);
    for (_, secret) in env {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{out}\n{err}"
        );
    }
    // Signing needs a served plugin.
    let (ok, _, err) = test_cmd(dir, &["/hooks/gh/test", "--sign"], &[]);
    assert!(!ok);
    assert!(err.contains("CLI_TEST_GH_SECRET is not set"), "{err}");
}

#[test]
fn routes_lists_every_route_of_every_kind() {
    let plugins = Plugins::new();
    plugins.add(
        "echo-bot",
        &echo_bot(),
        "secret = { value = \"bot-inline-secret\" }",
    );
    plugins.add(
        "ext",
        &guest("test-ext"),
        "secret = { env = \"CLI_ROUTES_EXT\" }",
    );
    plugins.add(
        "ws",
        &guest("test-worksection"),
        "basic_auth = { user = \"worksection\", password = { value = \"ws-inline-pw\" } }",
    );
    plugins.add(
        "errbot-examples",
        &guest("errbot-examples"),
        "verify = \"none\"",
    );
    plugins.add(
        "gh",
        &guest("test-hook"),
        "verify = \"github\"\nsecret = { file = \"gh.secret\" }\n[config]\nrules = \"/push=POST\"",
    );
    std::fs::write(plugins.path().join("gh.secret"), "gh-file-secret\n").unwrap();
    let listing = routes(plugins.path(), &[("CLI_ROUTES_EXT", "ext-env-secret")]);

    let row = |route: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(&format!("{route} ")))
            .unwrap_or_else(|| panic!("no row for {route}:\n{listing}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert!(listing.starts_with("dry run:"), "{listing}");
    assert!(listing.contains("ROUTE"), "{listing}");
    let bot = row("POST /pyrus/echo-bot");
    assert_eq!(
        &bot[2..5],
        ["echo-bot", "pyrus-bot", "pyrus-sig"],
        "{listing}"
    );
    for route in [
        "GET /pyrus-ext/ext/pulse",
        "POST /pyrus-ext/ext/authorize",
        "POST /pyrus-ext/ext/toggle",
        "POST /pyrus-ext/ext/event",
        "POST /pyrus-ext/ext/sendmessage",
        "GET /pyrus-ext/ext/getavailablenumbers",
    ] {
        assert_eq!(
            &row(route)[2..5],
            ["ext", "pyrus-ext", "pyrus-sig"],
            "{listing}"
        );
    }
    assert_eq!(
        &row("POST /worksection/ws")[2..5],
        ["ws", "worksection", "basic"],
        "{listing}"
    );
    for rule in [
        "/test",
        "/example/<name>/<action>",
        "/github",
        "/raw",
        "/powered",
        "/forbidden",
        "/json",
    ] {
        let r = row(&format!("GET,POST /hooks/errbot-examples{rule}"));
        assert_eq!(
            &r[2..5],
            ["errbot-examples", "http-hook", "none"],
            "{listing}"
        );
    }
    let gh = row("POST /hooks/gh/push");
    assert_eq!(&gh[2..5], ["gh", "http-hook", "github"], "{listing}");
    assert!(listing.contains("file gh.secret"), "{listing}");
    assert!(listing.contains("basic password inline value"), "{listing}");
    // The basic-auth user is half the credential: not listed either.
    assert!(!listing.contains("user worksection"), "{listing}");
    for secret in [
        "bot-inline-secret",
        "ext-env-secret",
        "ws-inline-pw",
        "gh-file-secret",
    ] {
        assert!(!listing.contains(secret), "{listing}");
    }
    let serving = listing.lines().filter(|l| l.ends_with("  serving")).count();
    assert_eq!(serving, 16, "{listing}");
}
