//! Background jobs of one process (webhook retries, the outbox consumer, settlement, …), stopped
//! together on shutdown: no new pass starts, a pass that is running finishes within the deadline.
//! Every pass works in transactions whose claims are row locks, so a pass cut off at the deadline
//! (or by a crash) leaves nothing claimed: its open transaction rolls back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// A running job loop and its name (for the shutdown log).
type Handles = Vec<(&'static str, JoinHandle<()>)>;

/// The periodic jobs of a process.
#[derive(Clone)]
pub struct Jobs {
    stop: Arc<watch::Sender<bool>>,
    handles: Arc<Mutex<Handles>>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs { stop: Arc::new(watch::channel(false).0), handles: Arc::new(Mutex::new(Vec::new())) }
    }
}

impl Jobs {
    /// Runs `job` at once and then every `every` until [`Jobs::stop`] (0 disables it). The first
    /// pass at start-up applies whatever a previous process left due.
    pub fn spawn_periodic<F, Fut>(&self, name: &'static str, every: Duration, job: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<usize, String>> + Send,
    {
        self.spawn_woken(name, every, None, job);
    }

    /// Like [`Jobs::spawn_periodic`], and also runs a pass as soon as `wake` is notified (e.g. by
    /// a PostgreSQL notification that new work was committed); the period stays the safety net.
    pub fn spawn_woken<F, Fut>(&self, name: &'static str, every: Duration, wake: Option<Arc<Notify>>, job: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<usize, String>> + Send,
    {
        if every.is_zero() {
            return;
        }
        let mut stop = self.stop.subscribe();
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let woken = async {
                    match &wake {
                        Some(w) => w.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|stopped| *stopped) => break,
                    _ = tick.tick() => {}
                    () = woken => {}
                }
                match job().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(job = name, items = n, "job pass"),
                    Err(e) => tracing::warn!(job = name, error = %e, "job pass failed"),
                }
            }
        });
        if let Ok(mut handles) = self.handles.lock() {
            handles.push((name, handle));
        }
    }

    /// Runs `task` (a listener, say) until [`Jobs::stop`].
    pub fn spawn_until_stop<Fut>(&self, name: &'static str, task: Fut)
    where
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut stop = self.stop.subscribe();
        let handle = tokio::spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => {}
                () = task => {}
            }
        });
        if let Ok(mut handles) = self.handles.lock() {
            handles.push((name, handle));
        }
    }

    /// Starts no new pass and waits up to `deadline` for running ones; those still running then
    /// are aborted (their transactions roll back). Returns whether every job ended in time.
    pub async fn stop(&self, deadline: Duration) -> bool {
        self.stop.send_replace(true);
        let handles = match self.handles.lock() {
            Ok(mut h) => std::mem::take(&mut *h),
            Err(_) => return false,
        };
        let until = tokio::time::Instant::now() + deadline;
        let mut clean = true;
        for (name, mut handle) in handles {
            if tokio::time::timeout_at(until, &mut handle).await.is_err() {
                tracing::warn!(job = name, "job still running at the shutdown deadline; aborted");
                handle.abort();
                clean = false;
            }
        }
        clean
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_pass_that_runs_finishes_and_none_starts_after_stop() {
        let jobs = Jobs::default();
        let passes = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let (p, f) = (passes.clone(), finished.clone());
        jobs.spawn_periodic("slow", Duration::from_millis(10), move || {
            let (p, f) = (p.clone(), f.clone());
            async move {
                p.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok(1)
            }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(jobs.stop(Duration::from_secs(5)).await, "the running pass ends within the deadline");
        let started = passes.load(Ordering::SeqCst);
        assert!(started >= 1);
        assert_eq!(finished.load(Ordering::SeqCst), started, "the pass that was running finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(passes.load(Ordering::SeqCst), started, "no pass starts after stop");
    }

    #[tokio::test]
    async fn a_woken_job_runs_at_once_without_waiting_for_its_period() {
        let jobs = Jobs::default();
        let wake = Arc::new(Notify::new());
        let passes = Arc::new(AtomicUsize::new(0));
        let p = passes.clone();
        jobs.spawn_woken("woken", Duration::from_secs(3600), Some(wake.clone()), move || {
            let p = p.clone();
            async move {
                p.fetch_add(1, Ordering::SeqCst);
                Ok(0)
            }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(passes.load(Ordering::SeqCst), 1, "the first pass runs at start");
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(passes.load(Ordering::SeqCst), 2, "a notification runs a pass at once");
        assert!(jobs.stop(Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn a_pass_past_the_deadline_is_aborted() {
        let jobs = Jobs::default();
        jobs.spawn_periodic("stuck", Duration::from_millis(10), || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(0)
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!jobs.stop(Duration::from_millis(50)).await);
    }
}
