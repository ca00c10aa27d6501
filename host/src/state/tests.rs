//! Behaviour of a [`StateStore`], through the trait object the runtime will
//! hold. Durability across reopening and kill -9 is in
//! `sqlite/durability_tests.rs`.

use std::sync::Arc;

use super::*;

struct Fixture {
    // Kept so the folder outlives the store.
    _dir: tempfile::TempDir,
    store: Arc<dyn StateStore>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    Fixture {
        _dir: dir,
        store: Arc::new(store),
    }
}

fn bucket(name: &str) -> Bucket {
    Bucket::new(name, Quota::default())
}

fn small(name: &str, max_bytes: u64, max_keys: u64) -> Bucket {
    Bucket::new(
        name,
        Quota {
            max_bytes,
            max_keys,
        },
    )
}

async fn usage_of(store: &dyn StateStore, plugin: &str) -> (u64, u64) {
    store
        .usage()
        .await
        .expect("usage")
        .into_iter()
        .find(|u| u.plugin == plugin)
        .map_or((0, 0), |u| (u.bytes, u.keys))
}

fn s(x: &str) -> String {
    x.to_string()
}

#[tokio::test]
async fn get_set_delete_exists() {
    let f = fixture();
    let a = bucket("a");
    assert_eq!(f.store.get(&a, s("k")).await, Ok(None));
    assert_eq!(f.store.exists(&a, s("k")).await, Ok(false));

    f.store.set(&a, s("k"), b"v1".to_vec()).await.expect("set");
    assert_eq!(f.store.get(&a, s("k")).await, Ok(Some(b"v1".to_vec())));
    assert_eq!(f.store.exists(&a, s("k")).await, Ok(true));

    f.store
        .set(&a, s("k"), b"v2".to_vec())
        .await
        .expect("replace");
    assert_eq!(f.store.get(&a, s("k")).await, Ok(Some(b"v2".to_vec())));

    f.store.delete(&a, s("k")).await.expect("delete");
    assert_eq!(f.store.get(&a, s("k")).await, Ok(None));
    assert_eq!(f.store.exists(&a, s("k")).await, Ok(false));
    // Deleting what is not there, even in a bucket never written, is fine.
    f.store.delete(&a, s("k")).await.expect("delete again");
    f.store
        .delete(&bucket("never"), s("k"))
        .await
        .expect("delete elsewhere");
    assert_eq!(usage_of(&*f.store, "never").await, (0, 0));
    assert!(
        !f.store
            .usage()
            .await
            .expect("usage")
            .iter()
            .any(|u| u.plugin == "never")
    );
}

#[tokio::test]
async fn empty_key_and_empty_value_are_values_like_any() {
    let f = fixture();
    let a = bucket("a");
    f.store.set(&a, s(""), Vec::new()).await.expect("set");
    assert_eq!(f.store.get(&a, s("")).await, Ok(Some(Vec::new())));
    assert_eq!(f.store.exists(&a, s("")).await, Ok(true));
    assert_eq!(usage_of(&*f.store, "a").await, (0, 1));
}

#[tokio::test]
async fn binary_values_round_trip() {
    let f = fixture();
    let a = bucket("a");
    let value: Vec<u8> = (0..=255).collect();
    f.store.set(&a, s("bin"), value.clone()).await.expect("set");
    assert_eq!(f.store.get(&a, s("bin")).await, Ok(Some(value)));
}

#[tokio::test]
async fn buckets_are_isolated() {
    let f = fixture();
    let (a, b) = (bucket("a"), bucket("b"));
    f.store
        .set(&a, s("k"), b"from a".to_vec())
        .await
        .expect("set a");
    f.store
        .set(&b, s("k"), b"from b".to_vec())
        .await
        .expect("set b");
    assert_eq!(f.store.get(&a, s("k")).await, Ok(Some(b"from a".to_vec())));
    assert_eq!(f.store.get(&b, s("k")).await, Ok(Some(b"from b".to_vec())));
    assert_eq!(f.store.increment(&a, s("n"), 5).await, Ok(5));
    assert_eq!(f.store.exists(&b, s("n")).await, Ok(false));

    f.store.delete(&a, s("k")).await.expect("delete a");
    assert_eq!(f.store.get(&b, s("k")).await, Ok(Some(b"from b".to_vec())));
    assert_eq!(
        f.store.list_keys(&a, None).await.expect("list a").keys,
        vec![s("n")]
    );
    assert_eq!(
        f.store.list_keys(&b, None).await.expect("list b").keys,
        vec![s("k")]
    );
    assert_eq!(
        f.store.get_many(&b, vec![s("k"), s("n")]).await,
        Ok(vec![Some((s("k"), b"from b".to_vec())), None])
    );
    assert_eq!(usage_of(&*f.store, "a").await, (2, 1));
    assert_eq!(usage_of(&*f.store, "b").await, (7, 1));
}

#[tokio::test]
async fn list_keys_pages_through_everything_once() {
    let f = fixture();
    let a = bucket("a");
    let total = PAGE_SIZE * 2 + 345;
    let all: Vec<String> = (0..total).map(|i| format!("key-{i:05}")).collect();
    for chunk in all.chunks(MAX_BATCH_ITEMS) {
        let pairs = chunk.iter().map(|k| (k.clone(), b"v".to_vec())).collect();
        f.store.set_many(&a, pairs).await.expect("set_many");
    }
    // Another bucket's keys must not show up.
    f.store
        .set(&bucket("b"), s("other"), Vec::new())
        .await
        .expect("set b");

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = f.store.list_keys(&a, cursor).await.expect("list");
        assert!(page.keys.len() <= PAGE_SIZE);
        pages += 1;
        seen.extend(page.keys);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    assert_eq!(seen, all);
}

#[tokio::test]
async fn list_keys_edges() {
    let f = fixture();
    let a = bucket("a");
    assert_eq!(f.store.list_keys(&a, None).await, Ok(KeyPage::default()));
    // Exactly one page: no cursor to an empty page.
    let pairs = (0..PAGE_SIZE)
        .map(|i| (format!("k{i}"), Vec::new()))
        .collect();
    f.store.set_many(&a, pairs).await.expect("set_many");
    let page = f.store.list_keys(&a, None).await.expect("list");
    assert_eq!((page.keys.len(), page.cursor), (PAGE_SIZE, None));
    // A cursor from the guest past the end, or past any id, is the end.
    for cursor in [1_000_000, u64::MAX] {
        assert_eq!(
            f.store.list_keys(&a, Some(cursor)).await,
            Ok(KeyPage::default())
        );
    }
}

#[tokio::test]
async fn list_keys_keeps_a_key_that_stays_across_deletes_and_replaces() {
    let f = fixture();
    let a = bucket("a");
    let pairs: Vec<_> = (0..PAGE_SIZE + 10)
        .map(|i| (format!("k{i}"), Vec::new()))
        .collect();
    for chunk in pairs.chunks(MAX_BATCH_ITEMS) {
        f.store
            .set_many(&a, chunk.to_vec())
            .await
            .expect("set_many");
    }
    let first = f.store.list_keys(&a, None).await.expect("page 1");
    // Deleting keys already listed and replacing keys not yet listed must
    // not make the rest skip or repeat.
    f.store
        .delete_many(&a, first.keys[..100].to_vec())
        .await
        .expect("delete");
    f.store
        .set(&a, format!("k{}", PAGE_SIZE + 5), b"new".to_vec())
        .await
        .expect("replace");
    let second = f.store.list_keys(&a, first.cursor).await.expect("page 2");
    let mut rest = second.keys;
    rest.sort();
    let mut expected: Vec<String> = (PAGE_SIZE..PAGE_SIZE + 10)
        .map(|i| format!("k{i}"))
        .collect();
    expected.sort();
    assert_eq!(rest, expected);
    assert_eq!(second.cursor, None);
}

#[tokio::test]
async fn increment_missing_existing_and_non_numeric() {
    let f = fixture();
    let a = bucket("a");
    assert_eq!(f.store.increment(&a, s("n"), 3).await, Ok(3));
    assert_eq!(f.store.increment(&a, s("n"), 4).await, Ok(7));
    // Stored as decimal text, as wasmtime's own wasi:keyvalue stores it.
    assert_eq!(f.store.get(&a, s("n")).await, Ok(Some(b"7".to_vec())));
    assert_eq!(f.store.increment(&a, s("zero"), 0).await, Ok(0));
    assert_eq!(f.store.get(&a, s("zero")).await, Ok(Some(b"0".to_vec())));

    f.store
        .set(&a, s("text"), b"100".to_vec())
        .await
        .expect("set");
    assert_eq!(f.store.increment(&a, s("text"), 1).await, Ok(101));

    f.store
        .set(&a, s("word"), b"ten".to_vec())
        .await
        .expect("set");
    assert_eq!(
        f.store.increment(&a, s("word"), 1).await,
        Err(StateError::NotANumber)
    );
    assert_eq!(f.store.get(&a, s("word")).await, Ok(Some(b"ten".to_vec())));

    f.store
        .set(&a, s("max"), u64::MAX.to_string().into_bytes())
        .await
        .expect("set");
    assert_eq!(
        f.store.increment(&a, s("max"), 1).await,
        Err(StateError::Overflow)
    );
    assert_eq!(f.store.increment(&a, s("max"), 0).await, Ok(u64::MAX));
}

#[tokio::test]
async fn increment_counts_against_the_quota() {
    let f = fixture();
    // "n" plus "9" is 2 bytes; "n" plus "10" would be 3.
    let a = small("a", 2, 10);
    assert_eq!(f.store.increment(&a, s("n"), 9).await, Ok(9));
    assert!(matches!(
        f.store.increment(&a, s("n"), 1).await,
        Err(StateError::QuotaExceeded { bytes: 3, .. })
    ));
    assert_eq!(f.store.get(&a, s("n")).await, Ok(Some(b"9".to_vec())));
    assert_eq!(usage_of(&*f.store, "a").await, (2, 1));
}

#[tokio::test]
async fn concurrent_increments_lose_nothing() {
    let f = fixture();
    let a = bucket("a");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, a) = (Arc::clone(&f.store), a.clone());
            tokio::spawn(async move {
                for _ in 0..25 {
                    store.increment(&a, s("n"), 1).await.expect("increment");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(f.store.get(&a, s("n")).await, Ok(Some(b"200".to_vec())));
}

#[tokio::test]
async fn batch_operations() {
    let f = fixture();
    let a = bucket("a");
    f.store
        .set_many(
            &a,
            vec![
                (s("x"), b"1".to_vec()),
                (s("y"), b"2".to_vec()),
                (s("x"), b"3".to_vec()),
            ],
        )
        .await
        .expect("set_many");
    // A key given twice ends with its last value, and counts once.
    assert_eq!(
        f.store
            .get_many(&a, vec![s("x"), s("missing"), s("y"), s("x")])
            .await,
        Ok(vec![
            Some((s("x"), b"3".to_vec())),
            None,
            Some((s("y"), b"2".to_vec())),
            Some((s("x"), b"3".to_vec())),
        ])
    );
    assert_eq!(usage_of(&*f.store, "a").await, (4, 2));

    f.store
        .delete_many(&a, vec![s("x"), s("missing"), s("x")])
        .await
        .expect("delete_many");
    assert_eq!(f.store.exists(&a, s("x")).await, Ok(false));
    assert_eq!(f.store.exists(&a, s("y")).await, Ok(true));
    assert_eq!(usage_of(&*f.store, "a").await, (2, 1));

    assert_eq!(f.store.get_many(&a, Vec::new()).await, Ok(Vec::new()));
    f.store
        .set_many(&a, Vec::new())
        .await
        .expect("empty set_many");
    f.store
        .delete_many(&a, Vec::new())
        .await
        .expect("empty delete_many");
}

#[tokio::test]
async fn a_batch_with_one_bad_item_writes_nothing() {
    let f = fixture();
    let a = small("a", 100, 3);
    f.store
        .set(&a, s("keep"), b"old".to_vec())
        .await
        .expect("set");
    let before = usage_of(&*f.store, "a").await;

    let long_key = "k".repeat(MAX_KEY_BYTES + 1);
    let cases = [
        (
            vec![(s("keep"), b"new".to_vec()), (long_key.clone(), Vec::new())],
            StateError::KeyTooLong {
                len: MAX_KEY_BYTES + 1,
                max: MAX_KEY_BYTES,
            },
        ),
        (
            vec![
                (s("keep"), b"new".to_vec()),
                (s("big"), vec![0; MAX_VALUE_BYTES + 1]),
            ],
            StateError::ValueTooLarge {
                len: MAX_VALUE_BYTES + 1,
                max: MAX_VALUE_BYTES,
            },
        ),
    ];
    for (pairs, err) in cases {
        assert_eq!(f.store.set_many(&a, pairs).await, Err(err));
    }
    // Over the key quota only with the last item.
    let too_many = vec![
        (s("keep"), b"new".to_vec()),
        (s("1"), Vec::new()),
        (s("2"), Vec::new()),
        (s("3"), Vec::new()),
    ];
    assert!(matches!(
        f.store.set_many(&a, too_many).await,
        Err(StateError::QuotaExceeded { keys: 4, .. })
    ));
    // Over the byte quota only as a whole: each item alone would fit.
    let too_big = vec![(s("p"), vec![0; 50]), (s("q"), vec![0; 50])];
    assert!(matches!(
        f.store.set_many(&a, too_big).await,
        Err(StateError::QuotaExceeded { .. })
    ));
    assert_eq!(f.store.get(&a, s("keep")).await, Ok(Some(b"old".to_vec())));
    for k in ["1", "p", "q", "big"] {
        assert_eq!(f.store.exists(&a, s(k)).await, Ok(false));
    }
    assert_eq!(usage_of(&*f.store, "a").await, before);

    let oversized: Vec<String> = (0..=MAX_BATCH_ITEMS).map(|i| i.to_string()).collect();
    let refused = StateError::BatchTooLarge {
        len: MAX_BATCH_ITEMS + 1,
        max: MAX_BATCH_ITEMS,
    };
    assert_eq!(
        f.store.get_many(&a, oversized.clone()).await,
        Err(refused.clone())
    );
    assert_eq!(
        f.store.delete_many(&a, oversized.clone()).await,
        Err(refused.clone())
    );
    let pairs = oversized.into_iter().map(|k| (k, Vec::new())).collect();
    assert_eq!(f.store.set_many(&a, pairs).await, Err(refused));

    // delete_many with one bad key deletes nothing.
    assert!(matches!(
        f.store.delete_many(&a, vec![s("keep"), long_key]).await,
        Err(StateError::KeyTooLong { .. })
    ));
    assert_eq!(f.store.exists(&a, s("keep")).await, Ok(true));
}

#[tokio::test]
async fn get_many_refuses_a_response_too_large() {
    let f = fixture();
    let a = bucket("a");
    f.store
        .set(&a, s("big"), vec![7; MAX_VALUE_BYTES])
        .await
        .expect("set");
    let keys = vec![s("big"); MAX_BATCH_RESPONSE_BYTES / MAX_VALUE_BYTES + 1];
    assert_eq!(
        f.store.get_many(&a, keys).await,
        Err(StateError::ResponseTooLarge {
            max: MAX_BATCH_RESPONSE_BYTES
        })
    );
}

#[tokio::test]
async fn key_and_value_limits() {
    let f = fixture();
    let a = bucket("a");
    let at_limit = "k".repeat(MAX_KEY_BYTES);
    let over = "k".repeat(MAX_KEY_BYTES + 1);
    f.store
        .set(&a, at_limit.clone(), vec![1; MAX_VALUE_BYTES])
        .await
        .expect("at the limits");
    assert_eq!(
        f.store
            .get(&a, at_limit)
            .await
            .expect("get")
            .map(|v| v.len()),
        Some(MAX_VALUE_BYTES)
    );

    let too_long = StateError::KeyTooLong {
        len: MAX_KEY_BYTES + 1,
        max: MAX_KEY_BYTES,
    };
    assert_eq!(
        f.store.set(&a, over.clone(), Vec::new()).await,
        Err(too_long.clone())
    );
    assert_eq!(f.store.get(&a, over.clone()).await, Err(too_long.clone()));
    assert_eq!(
        f.store.exists(&a, over.clone()).await,
        Err(too_long.clone())
    );
    assert_eq!(
        f.store.delete(&a, over.clone()).await,
        Err(too_long.clone())
    );
    assert_eq!(f.store.increment(&a, over, 1).await, Err(too_long));
    assert_eq!(
        f.store.set(&a, s("v"), vec![0; MAX_VALUE_BYTES + 1]).await,
        Err(StateError::ValueTooLarge {
            len: MAX_VALUE_BYTES + 1,
            max: MAX_VALUE_BYTES
        })
    );
    assert_eq!(f.store.exists(&a, s("v")).await, Ok(false));
}

#[tokio::test]
async fn quota_is_exact_at_the_limit() {
    let f = fixture();
    // Bytes: 1 (key) + 99 (value) is exactly 100.
    let a = small("a", 100, 1000);
    f.store
        .set(&a, s("k"), vec![0; 99])
        .await
        .expect("exactly at the byte quota");
    assert_eq!(usage_of(&*f.store, "a").await, (100, 1));
    assert_eq!(
        f.store.set(&a, s("x"), Vec::new()).await,
        Err(StateError::QuotaExceeded {
            bytes: 101,
            keys: 2,
            max_bytes: 100,
            max_keys: 1000
        })
    );
    assert_eq!(f.store.exists(&a, s("x")).await, Ok(false));

    // Keys: 3 fit, the 4th does not; replacing at the limit is fine.
    let b = small("b", 1000, 3);
    for k in ["1", "2", "3"] {
        f.store
            .set(&b, s(k), Vec::new())
            .await
            .expect("within the key quota");
    }
    assert!(matches!(
        f.store.set(&b, s("4"), Vec::new()).await,
        Err(StateError::QuotaExceeded { keys: 4, .. })
    ));
    f.store
        .set(&b, s("3"), b"x".to_vec())
        .await
        .expect("replace at the key limit");
    assert_eq!(usage_of(&*f.store, "b").await, (4, 3));
}

#[tokio::test]
async fn replacement_counts_the_difference() {
    let f = fixture();
    let a = small("a", 20, 10);
    f.store.set(&a, s("k"), vec![0; 10]).await.expect("set");
    assert_eq!(usage_of(&*f.store, "a").await, (11, 1));
    // 1 + 19 = 20 fits only because the old 10 bytes are given back.
    f.store
        .set(&a, s("k"), vec![0; 19])
        .await
        .expect("grow to the limit");
    assert_eq!(usage_of(&*f.store, "a").await, (20, 1));
    assert!(f.store.set(&a, s("k"), vec![0; 20]).await.is_err());
    f.store.set(&a, s("k"), vec![0; 3]).await.expect("shrink");
    assert_eq!(usage_of(&*f.store, "a").await, (4, 1));
    f.store.delete(&a, s("k")).await.expect("delete");
    assert_eq!(usage_of(&*f.store, "a").await, (0, 0));
}

#[tokio::test]
async fn a_lowered_quota_still_lets_state_shrink() {
    let f = fixture();
    f.store
        .set(&bucket("a"), s("k"), vec![0; 50])
        .await
        .expect("set");
    let tight = small("a", 10, 10);
    f.store
        .set(&tight, s("k"), vec![0; 20])
        .await
        .expect("shrink while over");
    assert!(f.store.set(&tight, s("k"), vec![0; 21]).await.is_err());
    f.store
        .delete(&tight, s("k"))
        .await
        .expect("delete while over");
}

#[tokio::test]
async fn usage_lists_every_bucket() {
    let f = fixture();
    f.store
        .set(&bucket("b"), s("key"), b"value".to_vec())
        .await
        .expect("set");
    f.store
        .set(&bucket("a"), s("k"), Vec::new())
        .await
        .expect("set");
    f.store
        .set(&bucket("a"), s("é"), b"12".to_vec())
        .await
        .expect("set");
    let usage = f.store.usage().await.expect("usage");
    assert_eq!(
        usage,
        vec![
            // "é" is 2 bytes in UTF-8: bytes, not characters, are counted.
            BucketUsage {
                plugin: s("a"),
                bytes: 5,
                keys: 2
            },
            BucketUsage {
                plugin: s("b"),
                bytes: 8,
                keys: 1
            },
        ]
    );
}

#[tokio::test]
async fn errors_never_show_values_or_keys() {
    let f = fixture();
    let a = small("a", 10, 10);
    let secret = "hunter2-secret";
    let errors = [
        f.store
            .set(&a, s(secret), secret.repeat(10).into_bytes())
            .await,
        f.store.set(&a, secret.repeat(20), Vec::new()).await,
        f.store
            .set(&bucket("a"), s("n"), secret.as_bytes().to_vec())
            .await,
    ];
    let not_a_number = f.store.increment(&a, s("n"), 1).await.map(|_| ());
    for e in errors.into_iter().chain([not_a_number]) {
        if let Err(e) = e {
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }
}

/// The operator CLI writes from another process. A second store on the same
/// file has connections of its own, as that process has: nothing the first
/// store keeps in memory may hide what the second wrote.
#[tokio::test]
async fn a_remembered_value_never_hides_another_process_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ours = SqliteStore::open(dir.path()).expect("open store");
    let theirs = SqliteStore::open(dir.path()).expect("open store");
    let a = bucket("a");

    ours.set(&a, s("k"), b"ours".to_vec()).await.expect("set");
    assert_eq!(ours.get(&a, s("k")).await, Ok(Some(b"ours".to_vec())));
    assert_eq!(ours.get(&a, s("unset")).await, Ok(None));
    assert_eq!(ours.exists(&a, s("unset")).await, Ok(false));

    theirs
        .set(&a, s("k"), b"theirs".to_vec())
        .await
        .expect("set");
    theirs
        .set(&a, s("unset"), b"now set".to_vec())
        .await
        .expect("set");
    assert_eq!(ours.get(&a, s("k")).await, Ok(Some(b"theirs".to_vec())));
    assert_eq!(ours.exists(&a, s("unset")).await, Ok(true));

    theirs.delete(&a, s("k")).await.expect("delete");
    assert_eq!(ours.get(&a, s("k")).await, Ok(None));
    assert_eq!(ours.exists(&a, s("k")).await, Ok(false));

    // And the other way round, through increments.
    assert_eq!(ours.increment(&a, s("n"), 1).await, Ok(1));
    assert_eq!(theirs.get(&a, s("n")).await, Ok(Some(b"1".to_vec())));
    assert_eq!(theirs.increment(&a, s("n"), 1).await, Ok(2));
    assert_eq!(ours.get(&a, s("n")).await, Ok(Some(b"2".to_vec())));
}

#[tokio::test]
async fn a_refused_write_leaves_the_remembered_value() {
    let f = fixture();
    let a = small("a", 40, 10);
    f.store.set(&a, s("k"), b"v1".to_vec()).await.expect("set");
    assert!(f.store.set(&a, s("k"), vec![b'x'; 100]).await.is_err());
    assert_eq!(f.store.get(&a, s("k")).await, Ok(Some(b"v1".to_vec())));
    assert!(
        f.store.increment(&a, s("k"), 1).await.is_err(),
        "not a number"
    );
    assert_eq!(f.store.get(&a, s("k")).await, Ok(Some(b"v1".to_vec())));
    let batch = vec![(s("k"), b"v2".to_vec()), (s("big"), vec![b'x'; 100])];
    assert!(f.store.set_many(&a, batch).await.is_err());
    assert_eq!(f.store.get(&a, s("k")).await, Ok(Some(b"v1".to_vec())));
    assert_eq!(f.store.get(&a, s("big")).await, Ok(None));
}

/// Reads and writes of the same keys from many tasks at once, on a runtime
/// with several workers: whatever interleaving happens, a read after the
/// last write of a key returns that write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_racing_writes_end_with_the_last_write() {
    let f = fixture();
    let a = bucket("a");
    let mut tasks = Vec::new();
    for t in 0..8u8 {
        let store = Arc::clone(&f.store);
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50u8 {
                let key = format!("k{}", i % 5);
                if t % 2 == 0 {
                    store.set(&a, key, vec![t, i]).await.expect("set");
                } else {
                    store.get(&a, key).await.expect("get");
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    for k in 0..5 {
        let key = format!("k{k}");
        let expected = f
            .store
            .get_many(&a, vec![key.clone()])
            .await
            .expect("get_many");
        let cached = f.store.get(&a, key.clone()).await.expect("get");
        assert_eq!(expected, vec![cached.map(|v| (key, v))]);
    }
}
