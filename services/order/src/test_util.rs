//! Test-only levers on the saga (cargo feature `test-util`, enabled only by
//! order-service's own dev-dependency, so no release binary contains them):
//! hold a checkout right after a step, and make releases fail.
//!
//! A test builds a [`Hooks`], puts it in [`crate::Config::hooks`], and
//! drives the saga through real gRPC calls while holding it at a step.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::saga::Step;

/// Shared levers; clones act on the same state.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The next checkout to reach this step waits there.
    pause: Mutex<Option<Pause>>,
    /// ReleaseReservation calls fail as if product-service were down.
    fail_releases: AtomicBool,
}

#[derive(Debug)]
struct Pause {
    step: Step,
    reached: oneshot::Sender<()>,
    resume: oneshot::Receiver<()>,
}

/// A checkout held at a step.
#[derive(Debug)]
pub struct Gate {
    reached: oneshot::Receiver<()>,
    resume: oneshot::Sender<()>,
}

impl Gate {
    /// Waits until a checkout reached the step and is held there.
    pub async fn reached(&mut self) {
        (&mut self.reached)
            .await
            .expect("the saga dropped the pause");
    }

    /// Lets the held checkout go on.
    pub fn resume(self) {
        // The saga may have been dropped (its request cancelled): nothing to resume.
        let _ = self.resume.send(());
    }
}

impl Hooks {
    /// Holds the next checkout right after `step` until the gate is resumed.
    pub fn pause_after(&self, step: Step) -> Gate {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (resume_tx, resume_rx) = oneshot::channel();
        *self.inner.pause.lock().expect("pause lock") = Some(Pause {
            step,
            reached: reached_tx,
            resume: resume_rx,
        });
        Gate {
            reached: reached_rx,
            resume: resume_tx,
        }
    }

    /// Makes every ReleaseReservation the saga sends fail (or succeed again).
    pub fn fail_releases(&self, fail: bool) {
        self.inner.fail_releases.store(fail, Ordering::SeqCst);
    }

    pub(crate) fn releases_fail(&self) -> bool {
        self.inner.fail_releases.load(Ordering::SeqCst)
    }

    /// Waits here if a test holds checkouts at `step`.
    pub(crate) async fn after(&self, step: Step) {
        let pause = {
            let mut slot = self.inner.pause.lock().expect("pause lock");
            match slot.as_ref() {
                Some(p) if p.step == step => slot.take(),
                _ => None,
            }
        };
        if let Some(pause) = pause {
            let _ = pause.reached.send(());
            let _ = pause.resume.await;
        }
    }
}
