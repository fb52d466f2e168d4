//! Test-only levers on the saga (cargo feature `test-util`, enabled only by
//! order-service's own dev-dependency, so no release binary contains them):
//! hold a checkout right after a step. Crashes and failing calls are faults
//! of `shop_runtime::chaos`, as in a release build: [`Hooks::faults`] are
//! the spawned service's own, to change while it runs.
//!
//! A test builds a [`Hooks`], puts it in [`crate::Config::hooks`], and
//! drives the saga through real gRPC calls. The saga's clients and order
//! lines are here too, for tests that call cart- and product-service the
//! way the saga does.
//! [`spawn_order`] runs order-service in-process on port 0;
//! [`Worker`] is its follow-up worker alone, run by hand.

use std::sync::{Arc, Mutex};

use shop_runtime::chaos::Faults;
use shop_testkit::{Running, TEST_FAULTS_TOKEN, TEST_PAGE_TOKEN_SECRET, TestDb, env};
use tokio::sync::oneshot;

pub use crate::domain::OrderItem;
pub use crate::downstream::Downstream;
pub use crate::saga::{Ran, Step};

/// Shared levers; clones act on the same state.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The next checkout to reach this step waits there.
    pause: Mutex<Option<Pause>>,
    /// The faults of the service spawned with these hooks.
    faults: Faults,
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

    /// The faults of the service spawned with these hooks
    /// (`shop_runtime::chaos`), e.g. `error unavailable on calls to
    /// ReleaseReservation`; set and cleared while it runs.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
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
    let config = test_config(db, cart, product, extra, hooks);
    Running::start(|listener, admin, shutdown| crate::run(config, listener, admin, shutdown)).await
}

/// The configuration of a test order-service: `extra` adds or overrides
/// variables; the hooks' faults become the service's, with those of
/// `FAULTS` in them.
fn test_config(
    db: &TestDb,
    cart: &Running,
    product: &Running,
    extra: &[(&str, &str)],
    hooks: Hooks,
) -> crate::Config {
    let url = db.url("order_svc");
    let (cart_url, product_url) = (cart.url(), product.url());
    let mut vars = vec![
        ("DATABASE_URL", url.as_str()),
        ("PAGE_TOKEN_SECRET", TEST_PAGE_TOKEN_SECRET),
        ("FAULTS_TOKEN", TEST_FAULTS_TOKEN),
        ("CART_SERVICE_ADDR", cart_url.as_str()),
        ("PRODUCT_SERVICE_ADDR", product_url.as_str()),
        ("DOWNSTREAM_TIMEOUT_MILLIS", "2000"),
        ("SHUTDOWN_GRACE_SECONDS", "2"),
    ];
    vars.extend_from_slice(extra);
    let mut config = crate::Config::from_env(&env(&vars)).expect("valid test config");
    hooks.faults().adopt_control(&config.common.faults);
    hooks
        .faults()
        .add(config.common.faults.list())
        .expect("FAULTS within the cap");
    config.common.faults = hooks.faults().clone();
    config.hooks = hooks;
    config
}

/// order-service's follow-up worker without its server and loop, for tests
/// that run it by hand (several at once, as several instances would).
/// Configured like [`spawn_order_with`]: `RECOVERY_HORIZON_SECONDS` and
/// `RECOVERY_INTERVAL_MILLIS` set its lease and backoff.
#[derive(Debug, Clone)]
pub struct Worker {
    saga: crate::saga::Saga,
}

impl Worker {
    pub async fn new(
        db: &TestDb,
        cart: &Running,
        product: &Running,
        extra: &[(&str, &str)],
        hooks: Hooks,
    ) -> Self {
        let config = test_config(db, cart, product, extra, hooks);
        let (saga, _, _) = crate::saga(&config).await.expect("worker");
        Self { saga }
    }

    /// Claims up to `limit` due follow-ups and runs them; what it did.
    pub async fn run_followups(&self, limit: i64) -> Vec<Ran> {
        self.saga
            .run_followups(limit)
            .await
            .expect("claim follow-ups")
    }
}
