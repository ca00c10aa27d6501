//! The SHA-256 of a plugin file: the key of compiled components and the
//! version `routes` shows.

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of a `.wasm` file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileHash(String);

impl FileHash {
    pub fn of(bytes: &[u8]) -> Self {
        FileHash(hex::encode(Sha256::digest(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, as shown to people.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}
