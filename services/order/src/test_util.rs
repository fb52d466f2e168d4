//! Test-only levers on the saga (cargo feature `test-util`, enabled only by
//! order-service's own dev-dependency, so no release binary contains them):
//! hold a checkout right after a step, make it fail there as if the process
//! had crashed, and make releases fail.
//!
//! A test builds a [`Hooks`], puts it in [`crate::Config::hooks`], and
//! drives the saga through real gRPC calls. The saga's clients and order
//! lines are here too, for tests that call cart- and product-service the
//! way the saga does.
//! [`spawn_order`] runs order-service in-process on port 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use shop_runtime::Fault;
use shop_testkit::{Running, TEST_PAGE_TOKEN_SECRET, TestDb, env};
use tokio::sync::oneshot;

pub use crate::domain::OrderItem;
pub use crate::downstream::Downstream;
pub use crate::saga::Step;

use crate::error::Error;

/// Shared levers; clones act on the same state.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The next checkout to reach this step waits there.
    pause: Mutex<Option<Pause>>,
    /// The next checkout to reach this step fails there.
    crash: Mutex<Option<Step>>,
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

    /// Makes the next checkout that reaches the end of `step` stop there, as
    /// if the process had crashed: the request fails UNAVAILABLE and leaves
    /// the order as it is for recovery.
    pub fn fail_after(&self, step: Step) {
        *self.inner.crash.lock().expect("crash lock") = Some(step);
    }

    /// Makes every ReleaseReservation the saga sends fail (or succeed again).
    pub fn fail_releases(&self, fail: bool) {
        self.inner.fail_releases.store(fail, Ordering::SeqCst);
    }

    /// Fails a release the saga is about to send, when releases fail.
    pub(crate) fn before_release(&self) -> Result<(), Error> {
        if self.inner.fail_releases.load(Ordering::SeqCst) {
            return Err(Fault::Downstream {
                service: "product-service",
                message: "injected release failure".into(),
            }
            .into());
        }
        Ok(())
    }

    /// Waits here if a test holds checkouts at `step`; fails if a test
    /// crashes the next checkout there.
    pub(crate) async fn after(&self, step: Step) -> Result<(), Error> {
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
        let mut crash = self.inner.crash.lock().expect("crash lock");
        if *crash == Some(step) {
            *crash = None;
            tracing::warn!(?step, "injected crash");
            return Err(Error::Interrupted);
        }
        Ok(())
    }
}

/// Runs order-service against `db`, calling `cart` and `product`.
/// `extra` adds or overrides variables.
pub async fn spawn_order(
    db: &TestDb,
    cart: &Running,
    product: &Running,
    extra: &[(&str, &str)],
) -> Running {
    spawn_order_with(db, cart, product, extra, Hooks::default()).await
}

/// [`spawn_order`] with the saga held by `hooks`.
pub async fn spawn_order_with(
    db: &TestDb,
    cart: &Running,
    product: &Running,
    extra: &[(&str, &str)],
    hooks: Hooks,
) -> Running {
    let url = db.url("order_svc");
    let (cart_url, product_url) = (cart.url(), product.url());
    let mut vars = vec![
        ("DATABASE_URL", url.as_str()),
        ("PAGE_TOKEN_SECRET", TEST_PAGE_TOKEN_SECRET),
        ("CART_SERVICE_ADDR", cart_url.as_str()),
        ("PRODUCT_SERVICE_ADDR", product_url.as_str()),
        ("DOWNSTREAM_TIMEOUT_MILLIS", "2000"),
        ("SHUTDOWN_GRACE_SECONDS", "2"),
    ];
    vars.extend_from_slice(extra);
    let mut config = crate::Config::from_env(&env(&vars)).expect("valid test config");
    config.hooks = hooks;
    Running::start(|listener, admin, shutdown| crate::run(config, listener, admin, shutdown)).await
}
