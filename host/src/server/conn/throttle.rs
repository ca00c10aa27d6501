//! Counted log lines for what comes in floods (refused connections, failed
//! accepts): the first at once, then one line per period with a count, so
//! an attack cannot fill the operator's disk through the host's own log.

use std::time::Duration;

use tokio::time::Instant;

pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Throttle {
            every,
            last: None,
            unlogged: 0,
        }
    }

    /// Counts one event; `Some(n)` when a line is due now, for the `n`
    /// events since the last one.
    pub fn hit(&mut self) -> Option<u64> {
        self.unlogged += 1;
        let now = Instant::now();
        if self.last.is_some_and(|last| now < last + self.every) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }

    /// The condition is over: `Some(n)` for events not logged yet. The next
    /// event is logged at once again.
    pub fn settle(&mut self) -> Option<u64> {
        self.last.take()?;
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_flood_is_one_line_per_period_with_its_count() {
        let mut t = Throttle::new(Duration::from_secs(1));
        assert_eq!(t.settle(), None, "nothing happened yet");
        assert_eq!(t.hit(), Some(1));
        for _ in 0..99 {
            assert_eq!(t.hit(), None);
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(t.hit(), Some(100));
        assert_eq!(t.hit(), None);
        assert_eq!(t.settle(), Some(1));
        assert_eq!(t.settle(), None);
        assert_eq!(t.hit(), Some(1), "a new flood is logged at once");
    }
}
