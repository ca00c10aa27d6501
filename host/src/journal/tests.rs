//! Behaviour of a [`Journal`], through the trait object the server will
//! hold. Reopening, kill -9 and open errors are in
//! `sqlite/durability_tests.rs`.

use std::collections::HashSet;
use std::sync::Arc;

use super::*;

struct Fixture {
    // Kept so the folder outlives the journal.
    _dir: tempfile::TempDir,
    journal: Arc<dyn Journal>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = SqliteJournal::open(dir.path()).expect("open journal");
    Fixture {
        _dir: dir,
        journal: Arc::new(journal),
    }
}

fn new(plugin: &str, received_at: UnixMs, body: &str) -> NewDelivery {
    NewDelivery {
        plugin: plugin.into(),
        kind: "http-hook".into(),
        received_at,
        payload: body.as_bytes().to_vec(),
        meta: r#"{"method":"POST","path":"/h"}"#.into(),
    }
}

fn failed(at: UnixMs, error: &str) -> Attempt {
    Attempt {
        started_at: at,
        ended_at: at + 5,
        error: Some(error.into()),
    }
}

fn ok(at: UnixMs) -> Attempt {
    Attempt {
        started_at: at,
        ended_at: at + 5,
        error: None,
    }
}

async fn append(j: &dyn Journal, plugin: &str, at: UnixMs, body: &str) -> DeliveryId {
    j.append(new(plugin, at, body)).await.expect("append")
}

fn ids(deliveries: &[Delivery]) -> Vec<&str> {
    deliveries.iter().map(|d| d.id.as_str()).collect()
}

#[tokio::test]
async fn an_appended_delivery_is_pending_and_due_at_once() {
    let f = fixture();
    let id = append(&*f.journal, "p", 1_000, "body").await;
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    let due = f.journal.due("p", 1_000, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    let d = &due[0];
    assert_eq!(d.id, id);
    assert_eq!((d.plugin.as_str(), d.kind.as_str()), ("p", "http-hook"));
    assert_eq!(d.received_at, 1_000);
    assert_eq!(d.payload, b"body");
    assert_eq!(d.meta, r#"{"method":"POST","path":"/h"}"#);
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!((d.attempts, d.progress, d.next_at), (0, 0, 1_000));
    // Not before it arrived, and never another plugin's.
    assert_eq!(f.journal.due("p", 999, 10).await, Ok(vec![]));
    assert_eq!(f.journal.due("q", 1_000, 10).await, Ok(vec![]));
}

#[tokio::test]
async fn due_takes_one_plugins_deliveries_in_arrival_order() {
    let f = fixture();
    let mut expected = Vec::new();
    for i in 0..5 {
        expected.push(append(&*f.journal, "p", 100, &format!("p{i}")).await);
        append(&*f.journal, "q", 100, &format!("q{i}")).await;
    }
    let due = f.journal.due("p", 100, 10).await.expect("due");
    assert_eq!(ids(&due), expected);
    assert!(due.windows(2).all(|w| w[0].seq < w[1].seq));
    let first_three = f.journal.due("p", 100, 3).await.expect("due");
    assert_eq!(ids(&first_three), expected[..3]);
}

#[tokio::test]
async fn a_retry_is_due_later_and_does_not_hold_back_the_rest() {
    let f = fixture();
    let a = append(&*f.journal, "p", 100, "a").await;
    let b = append(&*f.journal, "p", 100, "b").await;
    f.journal
        .record_attempt(
            &a,
            failed(200, "unavailable"),
            Outcome::Retry { at_ms: 5_200 },
        )
        .await
        .expect("record");

    let due = f.journal.due("p", 1_000, 10).await.expect("due");
    assert_eq!(ids(&due), [b.as_str()]);
    // b is due since 100, a at 5 200: the earliest is what the worker waits for.
    assert_eq!(f.journal.next_due("p").await, Ok(Some(100)));
    f.journal
        .record_attempt(&b, ok(300), Outcome::Done)
        .await
        .expect("record");
    assert_eq!(f.journal.next_due("p").await, Ok(Some(5_200)));
    assert_eq!(f.journal.due("p", 5_199, 10).await, Ok(vec![]));

    let due = f.journal.due("p", 5_200, 10).await.expect("due");
    assert_eq!(ids(&due), [a.as_str()]);
    assert_eq!(due[0].state, DeliveryState::Retrying);
    assert_eq!((due[0].attempts, due[0].next_at), (1, 5_200));
}

#[tokio::test]
async fn next_due_and_plugins_with_work_see_only_pending_and_retrying() {
    let f = fixture();
    assert_eq!(f.journal.next_due("p").await, Ok(None));
    assert_eq!(f.journal.plugins_with_work().await, Ok(vec![]));
    let done = append(&*f.journal, "done", 10, "x").await;
    let dead = append(&*f.journal, "dead", 10, "x").await;
    let retrying = append(&*f.journal, "retrying", 10, "x").await;
    append(&*f.journal, "pending", 10, "x").await;
    let j = &f.journal;
    j.record_attempt(&done, ok(20), Outcome::Done)
        .await
        .expect("done");
    j.record_attempt(&dead, failed(20, "rejected"), Outcome::Dead)
        .await
        .expect("dead");
    j.record_attempt(&retrying, failed(20, "trap"), Outcome::Retry { at_ms: 99 })
        .await
        .expect("retry");

    assert_eq!(
        j.plugins_with_work().await,
        Ok(vec!["pending".to_string(), "retrying".to_string()])
    );
    assert_eq!(j.next_due("done").await, Ok(None));
    assert_eq!(j.next_due("dead").await, Ok(None));
    assert_eq!(j.next_due("retrying").await, Ok(Some(99)));
    assert_eq!(j.due("dead", i64::MAX, 10).await, Ok(vec![]));
}

#[tokio::test]
async fn progress_is_kept_across_a_retry_and_is_not_an_attempt() {
    let f = fixture();
    let id = append(&*f.journal, "ws", 10, "three events").await;
    let j = &f.journal;
    j.record_attempt(&id, ok(20), Outcome::Progress(2))
        .await
        .expect("progress");
    let d = &j.due("ws", 20, 1).await.expect("due")[0];
    assert_eq!(
        (d.state, d.progress, d.attempts),
        (DeliveryState::Pending, 2, 0)
    );

    j.record_attempt(&id, failed(30, "timeout"), Outcome::Retry { at_ms: 40 })
        .await
        .expect("retry");
    let d = &j.due("ws", 40, 1).await.expect("due")[0];
    assert_eq!(
        (d.state, d.progress, d.attempts),
        (DeliveryState::Retrying, 2, 1)
    );
    let shown = j.show(&id).await.expect("show").expect("known");
    assert_eq!(shown.attempts, [failed(30, "timeout")]);
}

#[tokio::test]
async fn show_has_every_attempt_in_order_and_unknown_ids_are_none() {
    let f = fixture();
    let id = append(&*f.journal, "p", 10, "x").await;
    let j = &f.journal;
    let tries = [
        failed(20, "trap"),
        failed(40, "timeout"),
        failed(80, "internal"),
    ];
    for (i, t) in tries.iter().enumerate() {
        let outcome = if i + 1 == tries.len() {
            Outcome::Dead
        } else {
            Outcome::Retry {
                at_ms: t.ended_at + 10,
            }
        };
        j.record_attempt(&id, t.clone(), outcome)
            .await
            .expect("record");
    }
    let shown = j.show(&id).await.expect("show").expect("known");
    assert_eq!(shown.attempts, tries);
    assert_eq!(shown.delivery.state, DeliveryState::Dead);
    assert_eq!(shown.delivery.attempts, 3);
    assert_eq!(shown.delivery.payload, b"x");

    assert_eq!(j.show("no-such-id").await, Ok(None));
    assert_eq!(
        j.record_attempt("no-such-id", ok(1), Outcome::Done).await,
        Err(JournalError::NotFound("no-such-id".into()))
    );
}

#[tokio::test]
async fn replay_makes_dead_and_done_deliveries_due_now_keeping_history() {
    let f = fixture();
    let j = &f.journal;
    let dead = append(&**j, "p", 10, "dead").await;
    let done = append(&**j, "p", 10, "done").await;
    j.record_attempt(&dead, ok(20), Outcome::Progress(4))
        .await
        .expect("progress");
    j.record_attempt(&dead, failed(20, "rejected"), Outcome::Dead)
        .await
        .expect("dead");
    j.record_attempt(&done, ok(20), Outcome::Progress(3))
        .await
        .expect("progress");
    j.record_attempt(&done, ok(25), Outcome::Done)
        .await
        .expect("done");

    let before = now_ms();
    let ids = vec![dead.clone(), done.clone(), "unknown".into()];
    assert_eq!(j.replay(ids).await, Ok(2));
    let due = j.due("p", now_ms(), 10).await.expect("due");
    assert_eq!(due.len(), 2);
    for d in &due {
        assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
        assert!(d.next_at >= before && d.next_at <= now_ms());
    }
    // A dead delivery resumes at the event that failed; a done one starts over.
    assert_eq!((due[0].id.as_str(), due[0].progress), (dead.as_str(), 4));
    assert_eq!((due[1].id.as_str(), due[1].progress), (done.as_str(), 0));
    let shown = j.show(&dead).await.expect("show").expect("known");
    assert_eq!(shown.attempts, [failed(20, "rejected")]);
}

#[tokio::test]
async fn replay_dead_takes_one_plugins_dead_since_a_time() {
    let f = fixture();
    let j = &f.journal;
    let old = append(&**j, "p", 100, "old").await;
    let new_dead = append(&**j, "p", 200, "new").await;
    let other = append(&**j, "q", 200, "other plugin").await;
    let retrying = append(&**j, "p", 200, "retrying").await;
    for id in [&old, &new_dead, &other] {
        j.record_attempt(id, failed(300, "x"), Outcome::Dead)
            .await
            .expect("dead");
    }
    j.record_attempt(
        &retrying,
        failed(300, "x"),
        Outcome::Retry { at_ms: i64::MAX },
    )
    .await
    .expect("retry");

    assert_eq!(j.replay_dead("p", Some(150)).await, Ok(1));
    let due = j.due("p", now_ms(), 10).await.expect("due");
    assert_eq!(ids(&due), [new_dead.as_str()]);
    assert_eq!(j.replay_dead("p", None).await, Ok(1));
    assert_eq!(j.due("p", now_ms(), 10).await.expect("due").len(), 2);
    assert_eq!(j.due("q", now_ms(), 10).await, Ok(vec![]));
    assert_eq!(j.replay_dead("p", None).await, Ok(0));
}

#[tokio::test]
async fn purge_deletes_only_done_deliveries_finished_before_the_time() {
    let f = fixture();
    let j = &f.journal;
    let old = append(&**j, "p", 10, "old").await;
    let recent = append(&**j, "p", 10, "recent").await;
    let dead = append(&**j, "p", 10, "dead").await;
    let pending = append(&**j, "p", 10, "pending").await;
    j.record_attempt(&old, ok(100), Outcome::Done)
        .await
        .expect("done");
    j.record_attempt(&recent, ok(1_000), Outcome::Done)
        .await
        .expect("done");
    j.record_attempt(&dead, failed(100, "x"), Outcome::Dead)
        .await
        .expect("dead");

    // Finished at 105 (ended_at): before 500. Recent finished at 1 005.
    assert_eq!(j.purge_done(500).await, Ok(1));
    assert_eq!(j.show(&old).await, Ok(None));
    for id in [&recent, &dead, &pending] {
        assert!(j.show(id).await.expect("show").is_some(), "{id} purged");
    }
    assert_eq!(j.purge_done(500).await, Ok(0));
    assert_eq!(j.purge_done(i64::MAX).await, Ok(1));
}

#[tokio::test]
async fn list_is_newest_first_and_filters_by_plugin_state_and_time() {
    let f = fixture();
    let j = &f.journal;
    let a = append(&**j, "p", 100, "a").await;
    let b = append(&**j, "q", 200, "b").await;
    let c = append(&**j, "p", 300, "c").await;
    let d = append(&**j, "p", 400, "d").await;
    j.record_attempt(&c, failed(500, "x"), Outcome::Dead)
        .await
        .expect("dead");
    let list = |filter: Filter| j.list(filter);

    let all = list(Filter::default()).await.expect("list");
    assert_eq!(ids(&all), [&d, &c, &b, &a].map(String::as_str));
    let of_p = Filter {
        plugin: Some("p".into()),
        ..Filter::default()
    };
    let p = list(of_p.clone()).await.expect("list");
    assert_eq!(ids(&p), [&d, &c, &a].map(String::as_str));
    let dead = list(Filter {
        state: Some(DeliveryState::Dead),
        ..Filter::default()
    })
    .await
    .expect("list");
    assert_eq!(ids(&dead), [c.as_str()]);
    let since = list(Filter {
        since_ms: Some(200),
        ..of_p.clone()
    })
    .await
    .expect("list");
    assert_eq!(ids(&since), [&d, &c].map(String::as_str));
    let limited = list(Filter { limit: 2, ..of_p }).await.expect("list");
    assert_eq!(ids(&limited), [&d, &c].map(String::as_str));
}

#[tokio::test]
async fn size_grows_with_appends() {
    let f = fixture();
    let empty = f.journal.size_bytes().await.expect("size");
    assert!(empty > 0);
    for _ in 0..50 {
        append(&*f.journal, "p", 1, &"x".repeat(10_000)).await;
    }
    let full = f.journal.size_bytes().await.expect("size");
    assert!(full >= empty + 50 * 10_000, "{empty} -> {full}");
}

#[tokio::test]
async fn meta_that_is_not_json_is_refused() {
    let f = fixture();
    let mut d = new("p", 1, "x");
    d.meta = "method=POST".into();
    let refused = f.journal.append(d).await;
    assert!(
        matches!(&refused, Err(JournalError::Database(m)) if m.contains("json_valid")),
        "{refused:?}"
    );
    assert_eq!(f.journal.due("p", 1, 10).await, Ok(vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_does_not_undo_the_others_in_its_batch() {
    let f = fixture();
    // Queued together, so that they most likely share a commit.
    let mut tasks = Vec::new();
    for i in 0..32 {
        let journal = Arc::clone(&f.journal);
        tasks.push(tokio::spawn(async move {
            journal
                .append(new("p", 1, &i.to_string()))
                .await
                .map(|_| ())
        }));
        let journal = Arc::clone(&f.journal);
        tasks.push(tokio::spawn(async move {
            journal
                .record_attempt("unknown", ok(1), Outcome::Done)
                .await
        }));
    }
    let mut failed = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(()) => {}
            Err(JournalError::NotFound(_)) => failed += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(failed, 32);
    assert_eq!(f.journal.due("p", 1, 100).await.expect("due").len(), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_all_durable_and_distinct() {
    const TASKS: usize = 64;
    const EACH: usize = 50;
    let f = fixture();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let journal = Arc::clone(&f.journal);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let d = new(&format!("p{}", t % 4), 1, &format!("{t}/{i}"));
                ids.push(journal.append(d).await.expect("append"));
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    for task in tasks {
        for id in task.await.expect("task") {
            assert!(all.insert(id), "id handed out twice");
        }
    }
    assert_eq!(all.len(), TASKS * EACH);
    let mut stored = HashSet::new();
    for p in 0..4 {
        let due = f
            .journal
            .due(&format!("p{p}"), 1, u32::MAX)
            .await
            .expect("due");
        // Each task's own appends are in its order within the plugin.
        let mut last_of_task = std::collections::HashMap::new();
        for d in &due {
            let body = String::from_utf8(d.payload.clone()).expect("utf-8");
            let (t, i) = body.split_once('/').expect("t/i");
            let i: usize = i.parse().expect("i");
            if let Some(prev) = last_of_task.insert(t.to_string(), i) {
                assert!(prev < i, "task {t}: {prev} then {i}");
            }
        }
        stored.extend(due.into_iter().map(|d| d.id));
    }
    assert_eq!(stored, all);
}

#[tokio::test]
async fn a_remembered_answer_is_recalled_per_plugin_until_it_expires() {
    let Fixture { _dir, journal } = fixture();
    let answer = SeenAnswer {
        status: 200,
        content_type: Some("text/plain".into()),
        body: b"done".to_vec(),
    };
    journal
        .remember("a", "evt_1", answer.clone(), 2_000)
        .await
        .unwrap();
    assert_eq!(
        journal.recall("a", "evt_1", 1_000).await.unwrap(),
        Some(answer)
    );
    // Another plugin's ids are its own; an expired answer is gone.
    assert_eq!(journal.recall("b", "evt_1", 1_000).await.unwrap(), None);
    assert_eq!(journal.recall("a", "evt_1", 2_001).await.unwrap(), None);
    assert_eq!(journal.forget_expired(2_001).await.unwrap(), 1);
    assert_eq!(journal.forget_expired(2_001).await.unwrap(), 0);
}
