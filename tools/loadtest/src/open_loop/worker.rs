//! One connection of the open loop: its shopper's REST calls on a fixed
//! schedule, each latency counted from its intended send time.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rand::seq::IndexedRandom as _;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use super::{GRACE, Tally, Workload};
use crate::series::Recorder;

/// The REST calls the workloads make.
#[derive(Debug, Clone)]
pub(super) struct Api {
    /// One pool of keep-alive connections for every worker.
    pub(super) client: reqwest::Client,
    /// The gateway's base URL.
    pub(super) base: Url,
}

/// Product ids and categories of the catalog's first page.
#[derive(Debug, Clone)]
pub(super) struct Catalog {
    /// Product ids.
    products: Vec<String>,
    /// Distinct categories.
    categories: Vec<String>,
}

impl Api {
    fn url(&self, path: &str) -> anyhow::Result<Url> {
        Ok(self.base.join(path)?)
    }

    pub(super) async fn catalog(&self) -> anyhow::Result<Catalog> {
        let page: Value = self
            .client
            .get(self.url("/api/v1/products?page_size=100")?)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?
            .error_for_status()?
            .json()
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(
            !items.is_empty(),
            "the catalog is empty: nothing to load-test"
        );
        let field = |item: &Value, name: &str| item[name].as_str().unwrap_or_default().to_string();
        let mut categories: Vec<String> = items.iter().map(|i| field(i, "category")).collect();
        categories.sort();
        categories.dedup();
        Ok(Catalog {
            products: items.iter().map(|i| field(i, "id")).collect(),
            categories,
        })
    }

    pub(super) async fn guest_token(&self) -> anyhow::Result<String> {
        let body: Value = self
            .client
            .post(self.url("/api/v1/auth/guest")?)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        body["token"]
            .as_str()
            .map(str::to_string)
            .context("guest response without a token")
    }

    /// Adds a million units to every product, so checkouts never run dry.
    pub(super) async fn restock_all(
        &self,
        password: &str,
        catalog: &Catalog,
    ) -> anyhow::Result<()> {
        let login: Value = self
            .client
            .post(self.url("/api/v1/auth/login")?)
            .json(&json!({"username": "admin", "password": password}))
            .send()
            .await?
            .error_for_status()
            .context("admin login refused")?
            .json()
            .await?;
        let token = login["token"].as_str().context("login without a token")?;
        for id in &catalog.products {
            self.client
                .post(self.url(&format!("/api/v1/products/{id}/stock"))?)
                .bearer_auth(token)
                .json(&json!({"delta": 1_000_000}))
                .send()
                .await?
                .error_for_status()
                .with_context(|| format!("restocking {id}"))?;
        }
        Ok(())
    }
}

/// One connection's share of the load.
pub(super) struct Worker {
    /// The shared client.
    pub(super) api: Api,
    /// This connection's shopper.
    pub(super) token: String,
    /// What to pick products and categories from.
    pub(super) catalog: Catalog,
    /// What each request does.
    pub(super) workload: Workload,
    /// This connection's place in the schedule.
    pub(super) index: usize,
    /// How many connections share the rate.
    pub(super) connections: usize,
    /// Which browse step comes next.
    pub(super) step: usize,
    /// Where every HTTP request is counted by kind.
    pub(super) recorder: Arc<Recorder>,
}

impl Worker {
    pub(super) async fn run(&mut self, start: Instant, duration: Duration, rate: f64) -> Tally {
        let mut tally = Tally::new(start);
        let end = start + duration;
        let hard_stop = end + GRACE;
        tokio::time::sleep_until(start).await;
        let mut k: u64 = 0;
        loop {
            let intended = if rate > 0.0 {
                let slot = k as f64 * self.connections as f64 + self.index as f64;
                start + Duration::from_secs_f64(slot / rate)
            } else {
                Instant::now()
            };
            if intended >= end {
                break;
            }
            if Instant::now() >= hard_stop {
                // Behind schedule past the grace period: count the rest.
                let left =
                    ((duration.as_secs_f64() * rate) / self.connections as f64).ceil() as u64;
                tally.not_sent += left.saturating_sub(k);
                break;
            }
            tokio::time::sleep_until(intended).await;
            let outcome = self.one(intended).await;
            tally.last_answer = Some(Instant::now());
            let micros = micros_since(intended);
            match outcome {
                Ok(()) => {
                    tally.ok += 1;
                    tally.latency.saturating_record(micros.max(1));
                }
                Err(e) => {
                    tally.errors += 1;
                    tally.latency.saturating_record(micros.max(1));
                    if tally.error_samples.len() < 5 {
                        tally.error_samples.push(e);
                    }
                }
            }
            k += 1;
        }
        tally
    }

    /// One scheduled request (for checkout: the add and the checkout),
    /// due at `intended`.
    async fn one(&mut self, intended: Instant) -> Result<(), String> {
        let (product, category) = {
            let mut rng = rand::rng();
            let choose = |items: &[String], rng: &mut rand::rngs::ThreadRng| {
                items.choose(rng).cloned().unwrap_or_default()
            };
            (
                choose(&self.catalog.products, &mut rng),
                choose(&self.catalog.categories, &mut rng),
            )
        };
        let product_path = format!("/api/v1/products/{product}");
        let (kind, path) = match self.workload {
            Workload::Product => ("GET /api/v1/products/{id}", product_path),
            Workload::Browse => {
                self.step = (self.step + 1) % 3;
                match self.step {
                    0 => (
                        "GET /api/v1/products",
                        "/api/v1/products?page_size=20".to_string(),
                    ),
                    1 => (
                        "GET /api/v1/products?category",
                        format!("/api/v1/products?category={category}"),
                    ),
                    _ => ("GET /api/v1/products/{id}", product_path),
                }
            }
            Workload::Checkout => {
                let add = self
                    .api
                    .client
                    .post(self.url("/api/v1/cart/items")?)
                    .bearer_auth(&self.token)
                    .json(&json!({"product_id": product, "quantity": 1}));
                self.send("POST /api/v1/cart/items", intended, add, 200)
                    .await?;
                let order = self
                    .api
                    .client
                    .post(self.url("/api/v1/orders")?)
                    .bearer_auth(&self.token)
                    .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
                return self
                    .send("POST /api/v1/orders", Instant::now(), order, 201)
                    .await;
            }
        };
        let request = self
            .api
            .client
            .get(self.url(&path)?)
            .bearer_auth(&self.token);
        self.send(kind, intended, request, 200).await
    }

    fn url(&self, path: &str) -> Result<Url, String> {
        self.api.url(path).map_err(|e| e.to_string())
    }

    /// Sends `request`, expects `status`, and records it as `kind` with its
    /// latency counted from `since`.
    async fn send(
        &self,
        kind: &str,
        since: Instant,
        request: reqwest::RequestBuilder,
        status: u16,
    ) -> Result<(), String> {
        let outcome = expect(request.send().await, status).await;
        self.recorder
            .record(kind, micros_since(since), outcome.is_ok());
        outcome
    }
}

/// Microseconds from `since` to now.
fn micros_since(since: Instant) -> u64 {
    since.elapsed().as_micros().min(u128::from(u64::MAX)) as u64
}

/// Reads the whole answer and checks its status.
async fn expect(
    response: Result<reqwest::Response, reqwest::Error>,
    status: u16,
) -> Result<(), String> {
    let response = response.map_err(|e| format!("no answer: {e}"))?;
    let got = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    if got == status {
        Ok(())
    } else {
        Err(format!(
            "{got} (expected {status}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    }
}
