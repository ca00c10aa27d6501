//! The limits every backend enforces, and quota arithmetic. Kept apart from
//! storage so that PostgreSQL later refuses exactly what SQLite refuses.

use super::StateError;

/// Longest key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Keys in one `list_keys` page: 1000 keys of at most 256 bytes keep a page
/// under 256 KiB of guest memory.
pub const PAGE_SIZE: usize = 1000;
/// Items in one `get_many`, `set_many` or `delete_many`.
pub const MAX_BATCH_ITEMS: usize = 1000;
/// Bytes of keys and values one `get_many` may return. The quota bounds what
/// a bucket holds, but a batch may name the same large key many times.
pub const MAX_BATCH_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How much one plugin's bucket may hold. Bytes count keys plus values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max_bytes: u64,
    pub max_keys: u64,
}

impl Default for Quota {
    fn default() -> Quota {
        Quota {
            max_bytes: 64 * 1024 * 1024,
            max_keys: 100_000,
        }
    }
}

/// What a bucket holds, as the quota counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Usage {
    pub bytes: u64,
    pub keys: u64,
}

impl Usage {
    /// Usage with one entry of `entry_bytes` (key plus value) added.
    pub fn plus_entry(self, entry_bytes: u64) -> Usage {
        Usage {
            bytes: self.bytes.saturating_add(entry_bytes),
            keys: self.keys.saturating_add(1),
        }
    }

    /// Usage with one entry of `entry_bytes` removed.
    pub fn minus_entry(self, entry_bytes: u64) -> Usage {
        Usage {
            bytes: self.bytes.saturating_sub(entry_bytes),
            keys: self.keys.saturating_sub(1),
        }
    }
}

impl Quota {
    /// Whether a write that takes a bucket from `before` to `after` may
    /// commit. Only growth is refused: a write that keeps or lowers a
    /// measure passes even over the quota, so a plugin whose quota was
    /// lowered can still shrink its state.
    pub(crate) fn admit(&self, before: Usage, after: Usage) -> Result<(), StateError> {
        let bytes_over = after.bytes > before.bytes && after.bytes > self.max_bytes;
        let keys_over = after.keys > before.keys && after.keys > self.max_keys;
        if bytes_over || keys_over {
            return Err(StateError::QuotaExceeded {
                bytes: after.bytes,
                keys: after.keys,
                max_bytes: self.max_bytes,
                max_keys: self.max_keys,
            });
        }
        Ok(())
    }
}

pub(crate) fn check_key(key: &str) -> Result<(), StateError> {
    at_most(key.len(), MAX_KEY_BYTES, |len, max| {
        StateError::KeyTooLong { len, max }
    })
}

pub(crate) fn check_value(value: &[u8]) -> Result<(), StateError> {
    at_most(value.len(), MAX_VALUE_BYTES, |len, max| {
        StateError::ValueTooLarge { len, max }
    })
}

pub(crate) fn check_batch(len: usize) -> Result<(), StateError> {
    at_most(len, MAX_BATCH_ITEMS, |len, max| StateError::BatchTooLarge {
        len,
        max,
    })
}

/// `Ok` up to `max`; past it, the error `over` makes of the length and `max`.
fn at_most(len: usize, max: usize, over: fn(usize, usize) -> StateError) -> Result<(), StateError> {
    if len > max {
        return Err(over(len, max));
    }
    Ok(())
}

/// What an entry counts against the quota.
pub(crate) fn entry_bytes(key: &str, value_len: usize) -> u64 {
    // usize is at most 64 bits on every target hookhost builds for.
    (key.len() as u64).saturating_add(value_len as u64)
}

/// Parses a stored counter the way wasmtime's wasi:keyvalue does: UTF-8
/// decimal text, as `u64::from_str` reads it.
pub(crate) fn parse_counter(value: &[u8]) -> Result<u64, StateError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(StateError::NotANumber)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admit_refuses_only_growth_past_the_quota() {
        let q = Quota {
            max_bytes: 10,
            max_keys: 2,
        };
        let at = |bytes, keys| Usage { bytes, keys };
        assert!(q.admit(at(0, 0), at(10, 2)).is_ok());
        assert!(matches!(
            q.admit(at(10, 2), at(11, 2)),
            Err(StateError::QuotaExceeded { bytes: 11, .. })
        ));
        assert!(q.admit(at(5, 2), at(6, 3)).is_err());
        // Over a lowered quota, shrinking or standing still passes.
        assert!(q.admit(at(20, 5), at(15, 5)).is_ok());
        assert!(q.admit(at(20, 5), at(20, 4)).is_ok());
    }

    #[test]
    fn limits_are_inclusive() {
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert_eq!(
            check_key(&"k".repeat(MAX_KEY_BYTES + 1)),
            Err(StateError::KeyTooLong {
                len: MAX_KEY_BYTES + 1,
                max: MAX_KEY_BYTES
            })
        );
        // Bytes, not characters: 129 two-byte characters are 258 bytes.
        assert!(check_key(&"é".repeat(129)).is_err());
        assert!(check_value(&vec![0; MAX_VALUE_BYTES]).is_ok());
        assert!(check_value(&vec![0; MAX_VALUE_BYTES + 1]).is_err());
        assert!(check_batch(MAX_BATCH_ITEMS).is_ok());
        assert!(check_batch(MAX_BATCH_ITEMS + 1).is_err());
    }

    #[test]
    fn counters_parse_like_wasmtime() {
        assert_eq!(parse_counter(b"42"), Ok(42));
        assert_eq!(parse_counter(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_counter(b"abc"), Err(StateError::NotANumber));
        assert_eq!(parse_counter(b"-1"), Err(StateError::NotANumber));
        assert_eq!(parse_counter(b""), Err(StateError::NotANumber));
        assert_eq!(parse_counter(&[0xff, 0x31]), Err(StateError::NotANumber));
        assert_eq!(
            parse_counter(&42u64.to_le_bytes()),
            Err(StateError::NotANumber)
        );
    }
}
