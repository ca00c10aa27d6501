//! Fair sharing between plugins. Two mechanisms, both needed:
//!
//! - **Admission**: each plugin runs at most `max_concurrency` calls at once
//!   (its sidecar's, or a default sized to the machine); a call waits a short,
//!   bounded time for a turn and is then refused as busy (`503` with
//!   `Retry-After`). No plugin can hold the instance pool, however many
//!   requests it is sent.
//! - **Lanes**: a guest still running after its first full epoch tick is
//!   long-running, and from then on runs only while it holds one of a few
//!   lanes (fewer than the async workers), taking turns tick by tick. Short
//!   calls never touch a lane, so a looping plugin slows other looping
//!   plugins, not the quick ones, nor the HTTP layer, which always has a
//!   worker free.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The largest `max_concurrency` a sidecar may set: well below the instance
/// pool's 1000 slots, so a few plugins at their limit still leave room.
pub const MAX_CONCURRENCY: u32 = 256;

/// How long a call waits for its plugin to have a free turn before it is
/// refused: long enough to ride out a burst, short enough that a flooded
/// plugin answers its senders promptly.
pub const ADMISSION_WAIT: Duration = Duration::from_millis(100);

/// Read once: `available_parallelism` reads cgroup files each time, and a
/// start with 1000 plugins asks 1000 times.
pub fn cores() -> u32 {
    static CORES: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
}

/// Calls one plugin may run at once unless its sidecar says otherwise: a
/// few per core, enough to keep the cores busy with one plugin alone while
/// waits on outbound HTTP or state overlap.
pub fn default_max_concurrency() -> u32 {
    (4 * cores()).clamp(4, 64)
}

/// One plugin's turns. Shared by every loaded version of the plugin, so a
/// hot reload does not double what it may run.
///
/// A plugin whose calls fail without an answer (trap, memory limit,
/// deadline) gets fewer turns: each such failure halves its window, each
/// answered call widens it by one, up to `limit`. Once down to one turn, a
/// call that fails keeps the turn for a cool-down of ten times its own run
/// (at most a second) after it has answered its sender, so a plugin that
/// fails every call runs at most a tenth of the time. A failing plugin gains
/// nothing from running many calls at once, and the cores it would burn on
/// them are its neighbours'.
#[derive(Debug)]
pub struct Admission {
    limit: u32,
    turns: Arc<Semaphore>,
    window: Mutex<Window>,
    refusals: Mutex<Refusals>,
}

/// Refusals since the last log line about them: a flooded plugin is said
/// to be busy at most once a second, with a count, not once per request.
#[derive(Debug, Default)]
struct Refusals {
    unlogged: u64,
    logged_at: Option<Instant>,
}

#[derive(Debug)]
struct Window {
    /// Turns the plugin may hold now, 1..=limit.
    size: u32,
    /// Turns to take out of circulation as they come back, after the
    /// window shrank while they were held.
    debt: u32,
}

/// A call's turn. Says how the call went when it ends; a turn dropped
/// without (the call was cancelled) changes nothing.
pub struct Turn {
    admission: Arc<Admission>,
    permit: Option<OwnedSemaphorePermit>,
    started: Instant,
}

/// The longest a failed call keeps its plugin's last turn after it ended.
const MAX_COOL_DOWN: Duration = Duration::from_secs(1);

impl Admission {
    pub fn new(limit: u32) -> Arc<Admission> {
        let limit = limit.clamp(1, MAX_CONCURRENCY);
        Arc::new(Admission {
            limit,
            turns: Arc::new(Semaphore::new(limit as usize)),
            window: Mutex::new(Window {
                size: limit,
                debt: 0,
            }),
            refusals: Mutex::new(Refusals::default()),
        })
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The turns the plugin may hold now.
    pub fn window(&self) -> u32 {
        self.lock().size
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a refusal; `Some(n)` when it is time to log the `n` refusals
    /// since the last line (the first at once, then at most one a second).
    pub fn refused(&self) -> Option<u64> {
        let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        refusals.unlogged += 1;
        let now = Instant::now();
        if refusals
            .logged_at
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            return None;
        }
        refusals.logged_at = Some(now);
        Some(std::mem::take(&mut refusals.unlogged))
    }

    /// A turn, waiting at most `wait` for one (`None`: as long as it takes,
    /// for background deliveries that have nobody waiting on them).
    pub async fn enter(self: &Arc<Self>, wait: Option<Duration>) -> Option<Turn> {
        let permit = match self.turns.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let acquire = self.turns.clone().acquire_owned();
                match wait {
                    None => acquire.await.ok()?,
                    Some(wait) => tokio::time::timeout(wait, acquire).await.ok()?.ok()?,
                }
            }
        };
        Some(Turn {
            admission: self.clone(),
            permit: Some(permit),
            started: Instant::now(),
        })
    }
}

impl Turn {
    /// The call ended; `answered` is false when the plugin gave no answer.
    pub fn done(mut self, answered: bool) {
        let admission = self.admission.clone();
        let mut window = admission.lock();
        if answered {
            if window.size < admission.limit {
                window.size += 1;
                // Widening first cancels turns still owed.
                if window.debt > 0 {
                    window.debt -= 1;
                } else {
                    admission.turns.add_permits(1);
                }
            }
        } else if window.size > 1 {
            let shrink = window.size - window.size / 2;
            window.size -= shrink;
            let forgotten = admission.turns.forget_permits(shrink as usize) as u32;
            window.debt += shrink - forgotten;
        } else if let Some(permit) = self.permit.take() {
            let cool_down = (self.started.elapsed() * 10).min(MAX_COOL_DOWN);
            drop(window);
            // Calls run on a tokio runtime; without one the turn simply
            // comes back at once.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    tokio::time::sleep(cool_down).await;
                    drop(permit);
                });
            }
            return;
        }
        Turn::give_back(&mut window, self.permit.take());
    }

    fn give_back(window: &mut Window, permit: Option<OwnedSemaphorePermit>) {
        let Some(permit) = permit else { return };
        if window.debt > 0 {
            window.debt -= 1;
            permit.forget();
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.permit.is_some() {
            let admission = self.admission.clone();
            Turn::give_back(&mut admission.lock(), self.permit.take());
        }
    }
}

/// The lanes long-running guests take turns on: one fewer than the cores
/// (at least one), so one async worker is always left for everything else.
#[derive(Clone, Debug)]
pub struct Lanes(Arc<Semaphore>);

impl Lanes {
    pub fn for_machine() -> Lanes {
        Lanes::new(cores().saturating_sub(1).max(1))
    }

    pub fn new(lanes: u32) -> Lanes {
        Lanes(Arc::new(Semaphore::new(lanes.max(1) as usize)))
    }
}

/// The lane one call holds, if any, and how long it has run. Shared
/// between the epoch callback (which gives the lane up and queues again at
/// each tick) and the host calls that wait on the network (which give it up
/// while they wait: the guest is not running).
#[derive(Clone, Default)]
pub struct LaneSlot(Arc<Slot>);

#[derive(Default)]
struct Slot {
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    /// Epoch ticks seen since the call started or last waited.
    ticks: AtomicU32,
}

impl LaneSlot {
    /// Gives the lane up; the guest counts as quick again until it has run
    /// through another whole tick.
    pub fn release(&self) {
        self.0.ticks.store(0, Ordering::Relaxed);
        self.take();
    }

    fn take(&self) {
        self.0
            .permit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Counts an epoch tick; true once the guest has run through a whole
    /// one (the first tick may come at any moment after it started).
    pub fn tick(&self) -> bool {
        self.0.ticks.fetch_add(1, Ordering::Relaxed) >= 1
    }

    /// Gives up the lane held during the last tick and waits for a lane
    /// again, behind every long-running guest already waiting (the
    /// semaphore is fair), then holds it for the next tick.
    pub fn next_turn(&self, lanes: &Lanes) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.take();
        let slot = self.0.clone();
        let lanes = lanes.0.clone();
        Box::pin(async move {
            if let Ok(permit) = lanes.acquire_owned().await {
                *slot.permit.lock().unwrap_or_else(PoisonError::into_inner) = Some(permit);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_plugin_refuses_after_the_wait_and_admits_again_when_a_turn_ends() {
        let admission = Admission::new(2);
        let first = admission.enter(Some(ADMISSION_WAIT)).await;
        let second = admission.enter(Some(ADMISSION_WAIT)).await;
        assert!(first.is_some() && second.is_some());
        let start = tokio::time::Instant::now();
        assert!(
            admission
                .enter(Some(Duration::from_millis(20)))
                .await
                .is_none()
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        drop(first);
        assert!(admission.enter(Some(Duration::ZERO)).await.is_some());
    }

    #[tokio::test]
    async fn failures_halve_the_window_and_answers_widen_it_again() {
        let admission = Admission::new(8);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(admission.enter(Some(Duration::ZERO)).await.unwrap());
        }
        // Three calls fail while their turns are out: 8 -> 4 -> 2 -> 1.
        for turn in held.drain(..) {
            turn.done(false);
        }
        assert_eq!(admission.window(), 1);
        // At one turn, a failure keeps it for the cool-down.
        let failing = admission.enter(Some(Duration::ZERO)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        failing.done(false);
        assert!(
            admission
                .enter(Some(Duration::from_millis(20)))
                .await
                .is_none()
        );
        let only = admission
            .enter(Some(Duration::from_secs(1)))
            .await
            .expect("the turn came back after the cool-down");
        assert!(admission.enter(Some(Duration::ZERO)).await.is_none());
        only.done(true);
        assert_eq!(admission.window(), 2);
        let a = admission.enter(Some(Duration::ZERO)).await.unwrap();
        let b = admission.enter(Some(Duration::ZERO)).await.unwrap();
        assert!(admission.enter(Some(Duration::ZERO)).await.is_none());
        drop(a);
        b.done(true);
        for _ in 0..10 {
            let turn = admission.enter(Some(Duration::ZERO)).await.unwrap();
            turn.done(true);
        }
        assert_eq!(admission.window(), 8);
        let mut all = Vec::new();
        while let Some(turn) = admission.enter(Some(Duration::ZERO)).await {
            all.push(turn);
        }
        assert_eq!(all.len(), 8, "turns were lost or made up");
    }

    #[test]
    fn refusals_are_logged_at_once_then_counted_for_a_second() {
        let admission = Admission::new(1);
        assert_eq!(admission.refused(), Some(1));
        assert_eq!(admission.refused(), None);
        assert_eq!(admission.refused(), None);
        admission.refusals.lock().unwrap().logged_at =
            Instant::now().checked_sub(Duration::from_secs(2));
        assert_eq!(admission.refused(), Some(3));
    }

    #[tokio::test]
    async fn limits_are_kept_within_bounds() {
        assert_eq!(Admission::new(0).limit(), 1);
        assert_eq!(Admission::new(100_000).limit(), MAX_CONCURRENCY);
        assert!((4..=64).contains(&default_max_concurrency()));
    }

    #[test]
    fn a_guest_is_long_running_from_its_second_tick_until_it_waits() {
        let slot = LaneSlot::default();
        assert!(!slot.tick());
        assert!(slot.tick());
        assert!(slot.tick());
        slot.release();
        assert!(!slot.tick());
    }

    #[tokio::test]
    async fn lanes_are_taken_in_turn_and_given_back() {
        let lanes = Lanes::new(1);
        let (a, b) = (LaneSlot::default(), LaneSlot::default());
        a.next_turn(&lanes).await;
        let waiting = tokio::spawn(b.next_turn(&lanes));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            !waiting.is_finished(),
            "a second guest ran beside the first"
        );
        a.release();
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the lane was not handed on")
            .expect("join");
    }
}
