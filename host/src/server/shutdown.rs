//! Stop signals. The first SIGINT or SIGTERM starts a graceful shutdown; a
//! second one, or the grace period running out, ends it at once.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Counts stop signals from the moment it is installed, so a signal that
/// arrives while plugins are still loading is not lost (nor fatal).
#[derive(Clone)]
pub struct Signals {
    count: watch::Receiver<u32>,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let (tx, rx) = watch::channel(0u32);
        tokio::spawn(async move {
            loop {
                let got = tokio::select! {
                    got = terminate.recv() => got,
                    got = interrupt.recv() => got,
                };
                if got.is_none() {
                    break;
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        Ok(Signals { count: rx })
    }

    /// Resolves once `n` stop signals have arrived.
    pub async fn nth(&self, n: u32) {
        let mut count = self.count.clone();
        if count.wait_for(|seen| *seen >= n).await.is_err() {
            // No more signals can arrive.
            std::future::pending::<()>().await;
        }
    }
}
