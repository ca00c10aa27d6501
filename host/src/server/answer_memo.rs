//! Pyrus resends a bot or extension call whose answer it did not get (at
//! 61 s and 122 s, `X-Pyrus-Retry: 2/3`, `3/3`). A plugin that already did
//! the work would do it twice, so each successful answer is kept here for
//! a few minutes and a resend of the same body gets the same bytes back.
//!
//! Only answers the plugin produced and the host sent as 2xx go in: a
//! failed first attempt is run again. Memory is bounded by a count and a
//! byte total; every entry lives as long, so the oldest is the first to
//! expire and the first to go when the memo is full.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hashlink::LinkedHashMap;
use sha2::{Digest, Sha256};

use crate::plugins::LoadedPlugin;
use crate::protocol::pyrus_bot;

/// Longer than Pyrus's last resend (122 s after the second attempt).
pub const TTL: Duration = Duration::from_secs(5 * 60);
pub const MAX_ENTRIES: usize = 10_000;
pub const MAX_BYTES: usize = 64 << 20;

/// What an entry costs beyond its body: the key, the map and queue slots.
const ENTRY_OVERHEAD: usize = 128;

/// One call to one version of a plugin with one body.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Key {
    plugin: Arc<str>,
    /// A reloaded plugin is another program: it answers for itself (and the
    /// hot-reload promise, "the next request sees the new version", holds).
    generation: u64,
    /// SHA-256 over the call name, the query string and the body, so the
    /// body is read once and `/toggle` never answers for `/authorize`.
    digest: [u8; 32],
}

impl Key {
    pub fn new(plugin: &LoadedPlugin, call: &str, query: &str, body: &[u8]) -> Key {
        Key::of(plugin.name.clone(), plugin.generation, call, query, body)
    }

    fn of(plugin: Arc<str>, generation: u64, call: &str, query: &str, body: &[u8]) -> Key {
        let mut hash = Sha256::new();
        // Lengths first: ("ab", "c") and ("a", "bc") must not collide.
        for part in [call.as_bytes(), query.as_bytes()] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        hash.update(body);
        Key {
            plugin,
            generation,
            digest: hash.finalize().into(),
        }
    }
}

/// A response as sent: what a resend gets back byte for byte.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    /// Shared with the response sent: remembering copies no bytes.
    pub body: Bytes,
}

impl Answer {
    pub fn ok_empty() -> Answer {
        Answer {
            status: StatusCode::OK,
            content_type: None,
            body: Bytes::new(),
        }
    }

    pub fn json(body: impl Into<Bytes>) -> Answer {
        Answer {
            status: StatusCode::OK,
            content_type: Some(HeaderValue::from_static("application/json")),
            body: body.into(),
        }
    }

    fn cost(&self, key: &Key) -> usize {
        self.body.len() + key.plugin.len() + ENTRY_OVERHEAD
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        // Not `(status, Bytes)`: that would add an octet-stream type to an
        // empty bot answer, which is sent without one.
        let mut res = Response::new(Body::from(self.body));
        *res.status_mut() = self.status;
        if let Some(content_type) = self.content_type {
            res.headers_mut().insert(header::CONTENT_TYPE, content_type);
        }
        res
    }
}

pub struct AnswerMemo {
    ttl: Duration,
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// In the order they were stored: the front is the first to expire.
    entries: LinkedHashMap<Key, Entry>,
    bytes: usize,
}

struct Entry {
    answer: Answer,
    stored: Instant,
}

impl Default for AnswerMemo {
    fn default() -> Self {
        AnswerMemo::new(TTL, MAX_ENTRIES, MAX_BYTES)
    }
}

impl AnswerMemo {
    pub fn new(ttl: Duration, max_entries: usize, max_bytes: usize) -> Self {
        AnswerMemo {
            ttl,
            max_entries,
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The remembered answer to this request, logged as a duplicate.
    pub fn recall(&self, key: &Key, headers: &HeaderMap) -> Option<Response> {
        let answer = self.get(key, Instant::now())?;
        let retry = headers
            .get(pyrus_bot::RETRY_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        crate::metrics::get().duplicate(&key.plugin);
        tracing::info!(
            plugin = &*key.plugin,
            retry,
            "duplicate: answer repeated from memory, plugin not called"
        );
        Some(answer.into_response())
    }

    /// Keeps a successful answer; anything else is not kept, so a resend
    /// runs the plugin again.
    pub fn remember(&self, key: Key, answer: &Answer) {
        if answer.status.is_success() {
            self.put(key, answer.clone(), Instant::now());
        }
    }

    fn get(&self, key: &Key, now: Instant) -> Option<Answer> {
        let mut inner = self.lock();
        inner.expire(now, self.ttl);
        inner.entries.get(key).map(|e| e.answer.clone())
    }

    fn put(&self, key: Key, answer: Answer, now: Instant) {
        let cost = answer.cost(&key);
        if cost > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.expire(now, self.ttl);
        inner.remove(&key);
        while inner.entries.len() >= self.max_entries || inner.bytes + cost > self.max_bytes {
            if !inner.pop_oldest() {
                break;
            }
        }
        inner.bytes += cost;
        let entry = Entry {
            answer,
            stored: now,
        };
        inner.entries.insert(key, entry);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing under the lock can leave the memo half-updated in a way
        // that matters more than serving: a poisoned lock is still used.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

impl Inner {
    /// Drops entries older than `ttl`; they sit at the front.
    fn expire(&mut self, now: Instant, ttl: Duration) {
        while let Some((_, e)) = self.entries.front()
            && now.saturating_duration_since(e.stored) >= ttl
        {
            self.pop_oldest();
        }
    }

    /// Removes the oldest entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        let Some((key, old)) = self.entries.pop_front() else {
            return false;
        };
        self.bytes = self.bytes.saturating_sub(old.answer.cost(&key));
        true
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes = self.bytes.saturating_sub(old.answer.cost(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        Key {
            plugin: "bot".into(),
            generation: 1,
            digest: [n; 32],
        }
    }

    fn answer(text: &str) -> Answer {
        Answer::json(text.to_owned())
    }

    #[test]
    fn an_answer_is_recalled_until_it_expires() {
        let memo = AnswerMemo::new(Duration::from_secs(300), 10, 1 << 20);
        let t0 = Instant::now();
        memo.put(key(1), answer("one"), t0);
        assert_eq!(memo.get(&key(1), t0), Some(answer("one")));
        assert_eq!(
            memo.get(&key(1), t0 + Duration::from_secs(299)),
            Some(answer("one"))
        );
        assert_eq!(memo.get(&key(2), t0), None);
        assert_eq!(memo.get(&key(1), t0 + Duration::from_secs(300)), None);
        assert_eq!(memo.len(), 0);
    }

    #[test]
    fn the_oldest_goes_first_when_the_count_is_reached() {
        let memo = AnswerMemo::new(Duration::from_secs(300), 2, 1 << 20);
        let t0 = Instant::now();
        for n in 1..=3 {
            memo.put(key(n), answer("x"), t0 + Duration::from_secs(n.into()));
        }
        let now = t0 + Duration::from_secs(4);
        assert_eq!(memo.get(&key(1), now), None);
        assert!(memo.get(&key(2), now).is_some());
        assert!(memo.get(&key(3), now).is_some());
    }

    #[test]
    fn the_oldest_goes_first_when_the_bytes_are_reached() {
        let body = "x".repeat(1000);
        let cost = answer(&body).cost(&key(0));
        let memo = AnswerMemo::new(Duration::from_secs(300), 100, 2 * cost + cost / 2);
        let t0 = Instant::now();
        for n in 1..=3 {
            memo.put(key(n), answer(&body), t0);
        }
        assert_eq!(memo.get(&key(1), t0), None);
        assert!(memo.get(&key(2), t0).is_some());
        assert!(memo.get(&key(3), t0).is_some());
        assert_eq!(memo.lock().bytes, 2 * cost);
    }

    #[test]
    fn an_answer_larger_than_the_memo_is_not_kept() {
        let memo = AnswerMemo::new(Duration::from_secs(300), 100, 500);
        let t0 = Instant::now();
        memo.put(key(1), answer("small"), t0);
        memo.put(key(2), answer(&"x".repeat(1000)), t0);
        assert_eq!(memo.get(&key(2), t0), None);
        assert!(memo.get(&key(1), t0).is_some(), "nothing evicted for it");
    }

    #[test]
    fn storing_a_key_again_replaces_it_and_counts_it_once() {
        let memo = AnswerMemo::new(Duration::from_secs(300), 2, 1 << 20);
        let t0 = Instant::now();
        memo.put(key(1), answer("old"), t0);
        memo.put(key(1), answer("new"), t0 + Duration::from_secs(200));
        memo.put(key(2), answer("two"), t0 + Duration::from_secs(200));
        // The stale first slot of key 1 neither expires nor evicts the new one.
        let later = t0 + Duration::from_secs(350);
        assert_eq!(memo.get(&key(1), later), Some(answer("new")));
        assert_eq!(memo.len(), 2);
        assert_eq!(memo.lock().bytes, 2 * answer("new").cost(&key(1)));
    }

    #[test]
    fn only_successes_are_remembered() {
        let memo = AnswerMemo::default();
        let failed = Answer {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..answer("{}")
        };
        memo.remember(key(1), &failed);
        assert_eq!(memo.len(), 0);
        memo.remember(key(1), &Answer::ok_empty());
        assert_eq!(memo.get(&key(1), Instant::now()), Some(Answer::ok_empty()));
    }

    #[test]
    fn the_call_query_body_and_version_are_part_of_the_key() {
        let of = |call, query, body: &str, generation| {
            Key::of("ext".into(), generation, call, query, body.as_bytes())
        };
        let base = of("toggle", "", "{}", 1);
        assert_eq!(base, of("toggle", "", "{}", 1));
        assert_ne!(base, of("authorize", "", "{}", 1));
        assert_ne!(base, of("toggle", "", "{ }", 1));
        assert_ne!(base, of("toggle", "", "{}", 2));
        assert_ne!(of("numbers", "a=1", "", 1), of("numbers", "a=2", "", 1));
        // Lengths keep the parts apart.
        assert_ne!(of("ab", "c", "", 1), of("a", "bc", "", 1));
        assert_ne!(of("a", "b", "c", 1), of("a", "", "bc", 1));
    }
}
