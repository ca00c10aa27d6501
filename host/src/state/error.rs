//! Why a state operation was refused or failed. Texts name sizes and limits
//! only: never a value, and never a key, since either can hold a secret a
//! plugin keeps in its state.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("key is {len} bytes, the limit is {max}")]
    KeyTooLong { len: usize, max: usize },

    #[error("value is {len} bytes, the limit is {max}")]
    ValueTooLarge { len: usize, max: usize },

    #[error("batch has {len} items, the limit is {max}")]
    BatchTooLarge { len: usize, max: usize },

    #[error("batch response would exceed {max} bytes")]
    ResponseTooLarge { max: usize },

    /// What the bucket would hold after the write, against its quota.
    #[error(
        "quota exceeded: the write needs {bytes} bytes in {keys} keys, \
         the quota is {max_bytes} bytes in {max_keys} keys"
    )]
    QuotaExceeded {
        bytes: u64,
        keys: u64,
        max_bytes: u64,
        max_keys: u64,
    },

    #[error("stored value is not a decimal u64")]
    NotANumber,

    #[error("increment overflows u64")]
    Overflow,

    /// The state folder cannot be created or opened.
    #[error("state folder: {0}")]
    Io(String),

    #[error("state database: {0}")]
    Database(String),
}
