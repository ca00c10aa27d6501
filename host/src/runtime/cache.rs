//! The compiled-plugin cache: compiled components on disk, keyed by the
//! `.wasm` file's SHA-256 and the engine's compatibility hash, so a restart
//! (or a second plugin with the same bytes) skips Cranelift.
//!
//! Deserializing compiled code is `unsafe`: wasmtime runs whatever machine
//! code the bytes hold. So an entry is only used when its header names this
//! engine and this file, and a SHA-256 of the compiled bytes, written beside
//! them, matches. Entries are written to a temporary file and renamed into
//! place, so a reader never sees half an entry; anything that does not check
//! out is deleted and compiled again.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Names the format; a new layout gets a new magic, so old entries miss.
const MAGIC: &[u8; 16] = b"hookhost-cwasm1\n";
/// Magic, engine hash, wasm hash, payload hash, payload length.
const HEADER_LEN: usize = 16 + 32 + 32 + 32 + 8;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create the cache folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read cache entry {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write cache entry {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cache entry {path} is unusable ({why}); it was deleted")]
    Corrupt { path: PathBuf, why: String },
    #[error("cannot serialize the compiled component: {0}")]
    Serialize(String),
    #[error("not a SHA-256 hex digest: {0:?}")]
    BadKey(String),
}

/// Compiled components of one engine configuration, in one folder.
#[derive(Debug)]
pub struct CompileCache {
    /// `<root>/<engine hash>`: entries of other wasmtime versions or
    /// settings live beside it and are never looked at.
    dir: PathBuf,
    engine_hash: [u8; 32],
}

impl CompileCache {
    pub fn open(root: &Path, engine: &Engine) -> Result<CompileCache, CacheError> {
        let engine_hash = engine_hash(engine);
        let dir = root.join(hex::encode(&engine_hash[..8]));
        std::fs::create_dir_all(&dir).map_err(|source| CacheError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        Ok(CompileCache { dir, engine_hash })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn entry_path(&self, wasm_hash: &str) -> Result<PathBuf, CacheError> {
        key(wasm_hash)?;
        Ok(self.dir.join(format!("{wasm_hash}.cwasm")))
    }

    /// The cached component for `wasm_hash`, `None` when there is no entry.
    /// An entry that fails any check is deleted and reported as `Corrupt`.
    pub fn load(&self, engine: &Engine, wasm_hash: &str) -> Result<Option<Component>, CacheError> {
        let wasm_key = key(wasm_hash)?;
        let path = self.entry_path(wasm_hash)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Read { path, source }),
        };
        let corrupt = |why: String| {
            // Deleted so the next start does not trip over it again; the
            // caller compiles and stores a fresh entry.
            let _ = std::fs::remove_file(&path);
            CacheError::Corrupt {
                path: path.clone(),
                why,
            }
        };
        let payload =
            check(&bytes, &self.engine_hash, &wasm_key).map_err(|why| corrupt(why.into()))?;
        // SAFETY: the payload is byte for byte what `store` serialized with an
        // engine of this compatibility hash for this very file: the header
        // names both, and its SHA-256 matches the one written beside it.
        // wasmtime checks its own header (version, settings) on top.
        let component = unsafe { Component::deserialize(engine, payload) }
            .map_err(|e| corrupt(format!("wasmtime refused it: {e:#}")))?;
        Ok(Some(component))
    }

    /// Writes the entry for `wasm_hash` atomically: a temporary file in the
    /// same folder, flushed, then renamed over any old entry.
    pub fn store(&self, wasm_hash: &str, component: &Component) -> Result<(), CacheError> {
        let wasm_key = key(wasm_hash)?;
        let path = self.entry_path(wasm_hash)?;
        let payload = component
            .serialize()
            .map_err(|e| CacheError::Serialize(format!("{e:#}")))?;
        let mut entry = Vec::with_capacity(HEADER_LEN + payload.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&self.engine_hash);
        entry.extend_from_slice(&wasm_key);
        entry.extend_from_slice(&Sha256::digest(&payload));
        entry.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        entry.extend_from_slice(&payload);

        // Unique per process and call: two servers sharing the cache, or two
        // loads in one, never write the same temporary file.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".{wasm_hash}.{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = std::fs::File::create(&tmp).and_then(|mut file| {
            file.write_all(&entry)?;
            file.sync_data()
        });
        let renamed = written.and_then(|()| std::fs::rename(&tmp, &path));
        renamed.map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            CacheError::Write { path, source }
        })
    }
}

/// The payload of a well-formed entry for this engine and file.
fn check<'a>(
    bytes: &'a [u8],
    engine_hash: &[u8; 32],
    wasm_key: &[u8; 32],
) -> Result<&'a [u8], &'static str> {
    let (header, payload) = bytes
        .split_at_checked(HEADER_LEN)
        .ok_or("shorter than its header")?;
    let (magic, rest) = header.split_at(16);
    let (engine, rest) = rest.split_at(32);
    let (wasm, rest) = rest.split_at(32);
    let (digest, len) = rest.split_at(32);
    if magic != MAGIC {
        return Err("not a hookhost cache entry");
    }
    if engine != engine_hash {
        return Err("written by another engine configuration");
    }
    if wasm != wasm_key {
        return Err("written for another file");
    }
    let len: [u8; 8] = len.try_into().map_err(|_| "bad length field")?;
    if u64::from_le_bytes(len) != payload.len() as u64 {
        return Err("truncated or extended");
    }
    if Sha256::digest(payload).as_slice() != digest {
        return Err("checksum mismatch");
    }
    Ok(payload)
}

/// The 32 bytes of a SHA-256 hex digest; anything else is refused, so a key
/// can never name a path outside the cache folder.
fn key(wasm_hash: &str) -> Result<[u8; 32], CacheError> {
    let mut out = [0u8; 32];
    match hex::decode_to_slice(wasm_hash, &mut out) {
        Ok(()) if wasm_hash.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(out),
        _ => Err(CacheError::BadKey(wasm_hash.to_owned())),
    }
}

/// SHA-256 over what wasmtime feeds to `Hash` for the engine's compatibility
/// (its version and every setting that changes compiled code). `DefaultHasher`
/// is not stable across Rust releases, so it is not used for a key on disk.
fn engine_hash(engine: &Engine) -> [u8; 32] {
    use std::hash::Hash as _;
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
}

struct Sha256Hasher(Sha256);

impl std::hash::Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Unused: the full digest is read from the inner hasher.
    fn finish(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn entry(payload: &[u8], engine: &[u8; 32], wasm: &[u8; 32]) -> Vec<u8> {
        let mut e = MAGIC.to_vec();
        e.extend_from_slice(engine);
        e.extend_from_slice(wasm);
        e.extend_from_slice(&Sha256::digest(payload));
        e.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        e.extend_from_slice(payload);
        e
    }

    #[test]
    fn only_an_intact_entry_for_this_engine_and_file_passes() {
        let (engine, wasm) = ([1; 32], key(HASH).unwrap());
        let good = entry(b"compiled code", &engine, &wasm);
        assert_eq!(check(&good, &engine, &wasm), Ok(&b"compiled code"[..]));
        assert!(check(&good, &[2; 32], &wasm).is_err());
        assert!(check(&good, &engine, &[3; 32]).is_err());
        assert!(check(&good[..good.len() - 1], &engine, &wasm).is_err());
        assert!(check(&good[..10], &engine, &wasm).is_err());
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(check(&flipped, &engine, &wasm), Err("checksum mismatch"));
        let mut longer = good;
        longer.push(0);
        assert!(check(&longer, &engine, &wasm).is_err());
    }

    #[test]
    fn keys_are_sha256_hex_only() {
        assert!(key(HASH).is_ok());
        for bad in [
            "",
            "../x",
            &HASH[1..],
            &format!("{HASH}00"),
            &HASH.replace('0', "/"),
        ] {
            assert!(key(bad).is_err(), "{bad}");
        }
    }
}
