//! What the admin page shows of the recent past: the last requests and the
//! last plugin reloads, kept in memory, bounded. Process-wide, like
//! `metrics`: the server and the loader record, the admin listener reads.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{Method, Uri};
use serde::Serialize;

/// The admin page's "recent requests".
pub const REQUESTS: usize = 1000;
/// Reload events kept.
pub const RELOADS: usize = 200;

/// One answered request. The path is the sender's: shown, never a label.
#[derive(Clone, Debug, Serialize)]
pub struct Request {
    /// Unix milliseconds when it was answered.
    pub at_ms: u64,
    #[serde(serialize_with = "as_text")]
    pub method: Method,
    /// At most [`MAX_PATH`] bytes of it: a sender picks its length.
    pub path: Box<str>,
    #[serde(serialize_with = "shared")]
    pub plugin: Arc<str>,
    pub status: u16,
    pub micros: u64,
    pub id: RequestId,
}

/// A request id as text, held without an allocation.
#[derive(Clone, Copy, Debug)]
pub struct RequestId(pub [u8; 32]);

impl Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(std::str::from_utf8(&self.0).unwrap_or(""))
    }
}

/// One plugin file handled by the loader.
#[derive(Clone, Debug, Serialize)]
pub struct Reload {
    pub at_ms: u64,
    pub plugin: String,
    /// `loaded`, `failed`, `not_served` or `removed`.
    pub outcome: &'static str,
    pub detail: String,
}

fn as_text<S: serde::Serializer>(method: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(method.as_str())
}

fn shared<S: serde::Serializer>(text: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(text)
}

/// The longest path kept, in bytes (a request's may be 64 KiB).
pub const MAX_PATH: usize = 256;

/// `uri`'s path, cut to [`MAX_PATH`].
pub fn kept_path(uri: &Uri) -> Box<str> {
    let path = uri.path();
    Box::from(&path[..path.floor_char_boundary(MAX_PATH)])
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

struct Ring<T> {
    items: Mutex<VecDeque<T>>,
    cap: usize,
}

impl<T: Clone> Ring<T> {
    fn new(cap: usize) -> Self {
        Ring {
            items: Mutex::new(VecDeque::with_capacity(cap)),
            cap,
        }
    }

    fn push(&self, item: T) {
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        if items.len() == self.cap {
            items.pop_front();
        }
        items.push_back(item);
    }

    /// Newest first.
    fn newest(&self) -> Vec<T> {
        let items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        items.iter().rev().cloned().collect()
    }
}

pub struct Recent {
    requests: Ring<Request>,
    reloads: Ring<Reload>,
}

pub fn get() -> &'static Recent {
    static RECENT: LazyLock<Recent> = LazyLock::new(|| Recent {
        requests: Ring::new(REQUESTS),
        reloads: Ring::new(RELOADS),
    });
    &RECENT
}

impl Recent {
    pub fn request(&self, request: Request) {
        self.requests.push(request);
    }

    pub fn reload(&self, plugin: &str, outcome: &'static str, detail: String) {
        self.reloads.push(Reload {
            at_ms: now_ms(),
            plugin: plugin.to_owned(),
            outcome,
            detail,
        });
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.newest()
    }

    pub fn reloads(&self) -> Vec<Reload> {
        self.reloads.newest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_newest_first_up_to_its_cap() {
        let ring = Ring::new(3);
        for n in 0..5 {
            ring.push(n);
        }
        assert_eq!(ring.newest(), vec![4, 3, 2]);
    }
}
