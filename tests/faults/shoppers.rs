//! The checkout load: shoppers that add to the cart and check out until
//! told to stop, and what they saw.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

/// What the shoppers saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Requests sent, by outcome: the HTTP status, or `error` when the
    /// connection failed (a killed process).
    pub outcomes: BTreeMap<String, u64>,
    /// Responses with a 5xx status other than 503 and 504, with their body.
    pub server_errors: Vec<String>,
    /// Order id → the status the client was last told (CONFIRMED,
    /// CANCELLED, REJECTED).
    pub orders: HashMap<String, String>,
    /// Checkouts that never got a final answer before the load ended.
    pub unfinished: u64,
}

impl Seen {
    pub fn count(&mut self, outcome: &Result<reqwest::Response, reqwest::Error>) {
        let key = match outcome {
            Ok(response) => response.status().as_u16().to_string(),
            Err(_) => "error".to_string(),
        };
        *self.outcomes.entry(key).or_default() += 1;
    }

    pub fn requests(&self) -> u64 {
        self.outcomes.values().sum()
    }
}

/// A shopper: one guest token, then add a product and check out, again and
/// again, retrying each checkout with its own idempotency key through 503,
/// 504, 409 `in progress` and refused connections, and cancelling every
/// fourth confirmed order (retried the same way).
pub async fn shopper(
    base: String,
    products: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    // Sends one request; counts it; returns the status and JSON body of an
    // answer, None for a failed connection. A 5xx other than 503/504 is
    // recorded as a server error.
    let send = |request: reqwest::RequestBuilder| {
        let seen = seen.clone();
        async move {
            let outcome = request.send().await;
            seen.lock().await.count(&outcome);
            let response = outcome.ok()?;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if status >= 500 && status != 503 && status != 504 {
                seen.lock()
                    .await
                    .server_errors
                    .push(format!("{status} {body}"));
            }
            Some((
                status,
                serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
            ))
        }
    };
    let pause = || tokio::time::sleep(Duration::from_millis(100));
    let token = loop {
        if let Some((201, body)) = send(client.post(format!("{base}/api/v1/auth/guest"))).await {
            break body["token"].as_str().expect("a token").to_string();
        }
        pause().await;
    };
    let bearer = format!("Bearer {token}");
    let mut confirmed = 0_u64;
    let mut turn = 0_usize;
    while !stop.load(Ordering::Relaxed) {
        turn += 1;
        let product = &products[turn % products.len()];
        let add = client
            .post(format!("{base}/api/v1/cart/items"))
            .header("authorization", &bearer)
            .json(&json!({"product_id": product, "quantity": 1}));
        if send(add).await.is_none_or(|(status, _)| status != 200) {
            pause().await;
            continue;
        }
        // One checkout, retried with the same key until it has an answer;
        // past the end of the load, give it 20 s more.
        let key = uuid::Uuid::new_v4().to_string();
        let give_up = Instant::now() + Duration::from_secs(20);
        let order = loop {
            let checkout = client
                .post(format!("{base}/api/v1/orders"))
                .header("authorization", &bearer)
                .header("idempotency-key", &key);
            match send(checkout).await {
                Some((200 | 201, order)) => break Some(order),
                // Out of stock or an empty cart: a final answer.
                Some((409 | 422, body))
                    if !body["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("in progress") =>
                {
                    break None;
                }
                _ if stop.load(Ordering::Relaxed) && Instant::now() > give_up => {
                    seen.lock().await.unfinished += 1;
                    break None;
                }
                _ => pause().await,
            }
        };
        let Some(order) = order else { continue };
        let id = order["id"].as_str().expect("an order id").to_string();
        let status = order["status"].as_str().expect("a status").to_string();
        seen.lock().await.orders.insert(id.clone(), status.clone());
        if status != "CONFIRMED" {
            continue;
        }
        confirmed += 1;
        if confirmed.is_multiple_of(4) {
            // Retried until it has an answer: a cancel whose answer was
            // lost may well have happened. 200 is the cancel; 409 means it
            // is no longer CONFIRMED, and only this shopper cancels it.
            let give_up = Instant::now() + Duration::from_secs(20);
            let told = loop {
                let cancel = client
                    .post(format!("{base}/api/v1/orders/{id}/cancel"))
                    .header("authorization", &bearer);
                match send(cancel).await {
                    Some((200 | 409, _)) => break Some("CANCELLED"),
                    _ if stop.load(Ordering::Relaxed) && Instant::now() > give_up => break None,
                    _ => pause().await,
                }
            };
            let mut seen = seen.lock().await;
            match told {
                Some(status) => seen.orders.insert(id, status.to_string()),
                // Either outcome is right; the invariants still judge it.
                None => seen.orders.remove(&id),
            };
        }
    }
}
