//! How many connections the process can hold open: its file-descriptor
//! limit, raised at start where allowed, less what the rest of the host
//! needs.

/// Far above what a host needs, and at or below Linux's default ceiling
/// (`fs.nr_open`), so raising to it cannot fail for being too high.
const WANTED: u64 = 1 << 20;

/// Descriptors held by connections being refused over the cap (each for
/// about a second, to answer `503` and close cleanly).
pub const REFUSING_AT_ONCE: usize = 64;

/// With no `--max-connections`: enough for 6000 idle keep-alive senders and
/// more, small enough that idle connections cannot eat the machine's memory.
pub const DEFAULT_CEILING: usize = 16_384;

/// Raises the soft limit on open files toward the hard limit and returns
/// the soft limit in force afterwards.
pub fn raise() -> u64 {
    match rlimit::increase_nofile_limit(WANTED) {
        Ok(limit) => limit,
        Err(e) => {
            let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
            tracing::warn!("cannot raise the open-file limit ({e}); it stays at {soft}");
            soft
        }
    }
}

/// The most connections that fit under `fd_limit`, keeping descriptors
/// for plugins' outbound connections, the journal and state databases, the
/// folder watcher, compiled-plugin files and refusals.
pub fn budget(fd_limit: u64) -> usize {
    let reserve = (fd_limit / 4).clamp(64, 1024) + REFUSING_AT_ONCE as u64;
    usize::try_from(fd_limit.saturating_sub(reserve))
        .unwrap_or(usize::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_stays_below_the_limit_with_room_for_the_rest() {
        assert_eq!(budget(1024), 1024 - 256 - 64);
        assert_eq!(budget(20_000), 20_000 - 1024 - 64);
        assert_eq!(budget(1 << 20), (1 << 20) - 1024 - 64);
        assert_eq!(budget(100), 1, "a tiny limit still serves one connection");
    }
}
