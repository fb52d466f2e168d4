//! What one gRPC hop of Shop adds, against a raw tonic call over loopback.
//!
//! On one machine, one connection, calls one after another:
//!
//! - **raw tonic**: `grpc.health.v1.Health/Check` served by a bare
//!   `tonic::transport::Server` and called through a bare `Channel`: the
//!   floor of any unary gRPC call here.
//! - **Shop hop**: `ProductService/GetProduct` to a real product-service
//!   (ephemeral PostgreSQL), through `shop_runtime::client::channel` (client
//!   span, metrics, trace context, deadline) and the service's server stack
//!   (timeout, span, metrics, health, reflection), minus the same SQL run
//!   directly with sqlx: what the hop adds on top of the work it carries.
//!
//! Prints medians and p99 in microseconds and the ratio; used by `bench/run`.
//! Usage: `cargo run --release -p shop-bench --bin grpc_hop [CALLS]`.

use std::time::{Duration, Instant};

use shop_proto::product::GetProductRequest;
use shop_proto::product::product_service_client::ProductServiceClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

/// Times `calls` sequential runs of `call` after a tenth as many warm-up
/// runs; returns (p50, p99) in µs.
async fn time<F, Fut>(calls: usize, mut call: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..calls / 10 {
        call().await;
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call().await;
        samples.push(started.elapsed());
    }
    samples.sort();
    (percentile(&samples, 0.50), percentile(&samples, 0.99))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);

    // Raw tonic: health Check on a bare server and a bare channel.
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("echo", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            ),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let raw_client = HealthClient::new(channel);
    let raw = time(calls, || {
        let mut client = raw_client.clone();
        async move {
            client
                .check(HealthCheckRequest {
                    service: "echo".into(),
                })
                .await
                .expect("raw check");
        }
    })
    .await;

    // Shop: a real product-service and its own client stack.
    let db = shop_testkit::TestDb::new().await;
    let product =
        product_service::test_util::spawn_product(&db, &[("SEED_DEMO_CATALOG", "true")]).await;
    let channel = shop_runtime::client::channel(
        "PRODUCT_SERVICE_ADDR",
        &product.url(),
        &Default::default(),
        &Default::default(),
    )?;
    let client = ProductServiceClient::new(channel);
    let pool = db.admin_pool().await;
    // The service migrates and seeds after it has bound its port.
    let mut id: Option<uuid::Uuid> = None;
    for _ in 0..100 {
        id = sqlx::query_scalar("SELECT id FROM product.products LIMIT 1")
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten();
        if id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = id.ok_or_else(|| anyhow::anyhow!("product-service seeded no product in 10 s"))?;
    let policy = shop_runtime::client::CallPolicy::default();
    let hop = time(calls, || {
        let mut client = client.clone();
        let policy = policy.clone();
        async move {
            client
                .get_product(policy.request(GetProductRequest { id: id.to_string() }))
                .await
                .expect("GetProduct");
        }
    })
    .await;
    let sql = time(calls, || {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "SELECT id, sku, name, description, category, image_url, unit_price_minor, \
                 currency, available, created_at, updated_at FROM product.products WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&pool)
            .await
            .expect("SELECT");
        }
    })
    .await;

    let added = hop.0 - sql.0;
    println!("raw_tonic_p50_us {:.1}", raw.0);
    println!("raw_tonic_p99_us {:.1}", raw.1);
    println!("getproduct_p50_us {:.1}", hop.0);
    println!("getproduct_p99_us {:.1}", hop.1);
    println!("sql_p50_us {:.1}", sql.0);
    println!("sql_p99_us {:.1}", sql.1);
    println!("hop_added_p50_us {added:.1}");
    println!("hop_ratio {:.2}", added / raw.0);
    product.stop().await?;
    Ok(())
}
