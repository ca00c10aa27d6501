//! `hookhost deliveries` and `hookhost replay`: the operator's view of the
//! journal in the state folder. When a server is running on the folder
//! they ask it, through its admin API (a replay then starts at once);
//! otherwise, or when it cannot be asked, they read the journal itself,
//! which SQLite allows beside a running server (whose workers pick
//! replayed deliveries up within a second).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::admin_client::{AdminClient, nothing_done};
use super::args::{DeliveriesAction, DeliveriesArgs, ReplayArgs, StateArgs};
use super::state_admin::resolved;
use crate::journal::{Delivery, DeliveryState, Filter, Journal, SqliteJournal, UnixMs, now_ms};
use crate::plugins::status;
use crate::server::admin::{Listed, Shown};

/// The journal in the state folder, created if need be (`serve`, which
/// names its plugins folder: the state folder may not be inside it).
pub async fn open(args: &StateArgs, plugins: Option<&Path>) -> anyhow::Result<Arc<dyn Journal>> {
    let dir = args.dir()?;
    let plugins = plugins.map(Path::to_path_buf);
    let journal = tokio::task::spawn_blocking(move || {
        if let Some(plugins) = plugins {
            StateArgs::check_outside(&resolved(&dir), &resolved(&plugins))?;
        }
        SqliteJournal::open(&dir).with_context(|| {
            format!(
                "cannot open the delivery journal at {}",
                SqliteJournal::database_path(&dir).display()
            )
        })
    })
    .await
    .context("opening the delivery journal did not finish")??;
    Ok(Arc::new(journal))
}

/// The journal of an existing state folder: the operator tools never make one.
async fn existing(args: &StateArgs) -> anyhow::Result<Arc<dyn Journal>> {
    let dir = args.dir()?;
    let path = SqliteJournal::database_path(&dir);
    if !path.is_file() {
        bail!(
            "no delivery journal at {} (pass the server's --state-dir)",
            path.display()
        );
    }
    open(args, None).await
}

/// The running server on the state folder, if there is one to ask.
fn running(dir: &StateArgs) -> anyhow::Result<Option<AdminClient>> {
    let Some((pid, url)) = status::live_admin(&dir.dir()?) else {
        return Ok(None);
    };
    eprintln!("hookhost: asking the running server (pid {pid}) at {url}");
    Ok(Some(AdminClient::new(&url)?))
}

/// `list` through the running server; `false` when it could not be asked.
async fn list_remote(server: &AdminClient, args: &DeliveriesArgs) -> anyhow::Result<bool> {
    if let Some(DeliveriesAction::Show { id }) = &args.action {
        let path = format!(
            "/api/deliveries/{}",
            utf8_percent_encode(id, NON_ALPHANUMERIC)
        );
        let shown: Shown = match server.get(&path).await {
            Ok(shown) => shown,
            Err(e) if e.to_string().contains("no such delivery") => bail!("no delivery {id}"),
            Err(e) => return fallback(e),
        };
        println!("id:       {}", shown.id);
        println!("plugin:   {}", shown.plugin);
        println!("kind:     {}", shown.kind);
        println!("state:    {}", shown.state);
        println!("received: {}", time(shown.received_at_ms));
        if shown.meta.as_object().is_some_and(|m| !m.is_empty()) {
            println!("request:  {}", shown.meta);
        }
        println!("attempts:");
        for (n, a) in shown.attempts.iter().enumerate() {
            let how = a.error.as_deref().unwrap_or("handled");
            let took = a.ended_at_ms - a.started_at_ms;
            println!("  {} {} ({took} ms): {how}", n + 1, time(a.started_at_ms));
        }
        println!("payload:");
        println!("{}", shown.payload);
        return Ok(true);
    }
    let mut query = format!("/api/deliveries?limit={}", args.limit);
    if let Some(state) = &args.state {
        state
            .parse::<DeliveryState>()
            .context("--state must be pending, retrying, dead or done")?;
        query.push_str(&format!("&state={state}"));
    }
    if let Some(plugin) = &args.plugin {
        query.push_str(&format!(
            "&plugin={}",
            utf8_percent_encode(plugin, NON_ALPHANUMERIC)
        ));
    }
    if let Some(text) = &args.since {
        query.push_str(&format!("&since_ms={}", since(text)?));
    }
    let rows: Vec<Listed> = match server.get(&query).await {
        Ok(rows) => rows,
        Err(e) => return fallback(e),
    };
    print_header();
    for d in &rows {
        print_row(
            &d.id,
            &d.plugin,
            &d.kind,
            d.state,
            d.attempts,
            d.received_at_ms,
        );
    }
    Ok(true)
}

/// The server could not be asked: say why, and read the journal instead.
fn fallback(e: anyhow::Error) -> anyhow::Result<bool> {
    eprintln!("hookhost: {e}; reading the journal instead");
    Ok(false)
}

fn print_header() {
    println!(
        "{:<36}  {:<16}  {:<12}  {:<8}  {:>8}  RECEIVED",
        "ID", "PLUGIN", "KIND", "STATE", "ATTEMPTS"
    );
}

fn print_row(id: &str, plugin: &str, kind: &str, state: DeliveryState, attempts: u32, at: UnixMs) {
    println!(
        "{id:<36}  {plugin:<16}  {kind:<12}  {:<8}  {attempts:>8}  {}",
        state.as_str(),
        time(at)
    );
}

pub async fn list(args: DeliveriesArgs) -> anyhow::Result<()> {
    if let Some(server) = running(&args.dir)?
        && list_remote(&server, &args).await?
    {
        return Ok(());
    }
    let journal = existing(&args.dir).await?;
    if let Some(DeliveriesAction::Show { id }) = &args.action {
        let Some(detail) = journal.show(id).await? else {
            bail!("no delivery {id}");
        };
        print!("{}", describe(&detail.delivery));
        println!("attempts:");
        for (n, attempt) in detail.attempts.iter().enumerate() {
            let how = attempt.error.as_deref().unwrap_or("handled");
            println!(
                "  {} {} ({} ms): {how}",
                n + 1,
                time(attempt.started_at),
                attempt.ended_at - attempt.started_at
            );
        }
        println!("payload:");
        println!("{}", String::from_utf8_lossy(&detail.delivery.payload));
        return Ok(());
    }
    let state = args
        .state
        .as_deref()
        .map(str::parse::<DeliveryState>)
        .transpose()
        .context("--state must be pending, retrying, dead or done")?;
    let filter = Filter {
        plugin: args.plugin.clone(),
        state,
        since_ms: args.since.as_deref().map(since).transpose()?,
        limit: args.limit,
    };
    let rows = journal.list(filter).await?;
    print_header();
    for d in &rows {
        print_row(
            &d.id,
            &d.plugin,
            &d.kind,
            d.state,
            d.attempts,
            d.received_at,
        );
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct Replayed {
    replayed: u64,
}

/// `replay` through the running server, which starts the deliveries at
/// once; `None` when it could not be asked.
async fn replay_remote(server: &AdminClient, args: &ReplayArgs) -> anyhow::Result<Option<u64>> {
    let body = match (&args.plugin, args.dead) {
        (Some(plugin), true) => {
            let since_ms = args.since.as_deref().map(since).transpose()?;
            serde_json::json!({ "plugin": plugin, "dead": true, "since_ms": since_ms })
        }
        _ if args.ids.is_empty() => bail!("name delivery ids, or --plugin P --dead"),
        _ => serde_json::json!({ "ids": args.ids }),
    };
    match server.post::<Replayed>("/api/replay", &body).await {
        Ok(done) => Ok(Some(done.replayed)),
        // Only when the server did nothing: a replay it may have started
        // must not be made pending again behind its back.
        Err(e) if nothing_done(&e) => fallback(e).map(|_| None),
        Err(e) => Err(e),
    }
}

pub async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    if let Some(server) = running(&args.dir)?
        && let Some(count) = replay_remote(&server, &args).await?
    {
        if args.dead || count >= args.ids.len() as u64 {
            println!("{count} deliveries will run again");
            return Ok(());
        }
        bail!(
            "{} of the {} ids are not in the journal",
            args.ids.len() as u64 - count,
            args.ids.len()
        );
    }
    let journal = existing(&args.dir).await?;
    let count = match (&args.plugin, args.dead) {
        (Some(plugin), true) => {
            let since = args.since.as_deref().map(since).transpose()?;
            journal.replay_dead(plugin, since).await?
        }
        _ if args.ids.is_empty() => bail!("name delivery ids, or --plugin P --dead"),
        _ => {
            let wanted = args.ids.len();
            let known = journal.replay(args.ids.clone()).await?;
            if known < wanted as u64 {
                bail!(
                    "{} of the {wanted} ids are not in the journal",
                    wanted as u64 - known
                );
            }
            known
        }
    };
    println!("{count} deliveries will run again");
    Ok(())
}

fn describe(d: &Delivery) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "id:       {}", d.id);
    let _ = writeln!(out, "plugin:   {}", d.plugin);
    let _ = writeln!(out, "kind:     {}", d.kind);
    let _ = writeln!(out, "state:    {}", d.state);
    let _ = writeln!(out, "received: {}", time(d.received_at));
    if matches!(d.state, DeliveryState::Pending | DeliveryState::Retrying) {
        let _ = writeln!(out, "due:      {}", time(d.next_at));
    }
    if d.meta != "{}" {
        let _ = writeln!(out, "request:  {}", d.meta);
    }
    out
}

/// `3600`, `30s`, `30m`, `2h` or `7d` ago, as unix milliseconds.
fn since(text: &str) -> anyhow::Result<UnixMs> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let seconds: i64 = match (number.parse::<i64>(), unit) {
        (Ok(n), "s") => n,
        (Ok(n), "m") => n * 60,
        (Ok(n), "h") => n * 3600,
        (Ok(n), "d") => n * 86_400,
        _ => bail!("--since {text:?}: give seconds ago, or a number with s, m, h or d"),
    };
    Ok(now_ms() - seconds.saturating_mul(1000))
}

/// RFC 3339 in UTC, to the millisecond.
fn time(ms: UnixMs) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        ms.rem_euclid(1000)
    )
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(time(1_796_176_800_123), "2026-12-02T02:00:00.123Z");
        assert_eq!(time(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn since_takes_seconds_or_a_unit() {
        let now = now_ms();
        let ago = |t: &str| (now - since(t).unwrap()) / 1000;
        assert!((3599..=3601).contains(&ago("3600")));
        assert!((7199..=7201).contains(&ago("2h")));
        assert!((86_399..=86_401).contains(&ago("1d")));
        assert!(since("soon").is_err());
        assert!(since("5y").is_err());
    }
}
