//! The tracing cost of one browse request, in isolation: the four spans of
//! `GET /api/v1/products/{id}` (HTTP server, gRPC client, gRPC server with
//! the caller's trace context, SQL), made, entered on every poll and closed
//! exactly as the gateway and product-service make them, with no network
//! and no database, on the same runtime and allocator as the binaries.
//! Configured from the environment like every component
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_TRACES_SAMPLER*`, `RUST_LOG`).
//! Usage: `span_cost [REQUESTS] [TASKS]` (TASKS loops run concurrently,
//! default 1); prints the CPU time of the process per request, which
//! includes the export of the spans.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use tower_http::trace::MakeSpan as _;
use tracing::Instrument as _;

/// A future that is pending once, as a call waiting on the network is.
async fn one_wait() {
    let mut polled = false;
    std::future::poll_fn(|cx| {
        if polled {
            std::task::Poll::Ready(())
        } else {
            polled = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// One browse request's spans.
async fn request() {
    let http_request = http::Request::get("/api/v1/products/42").body(()).unwrap();
    let http_span = gateway::middleware::HttpServerSpan.make_span(&http_request);
    async {
        gateway::middleware::name_by_route(
            &tracing::Span::current(),
            "GET",
            "/api/v1/products/{id}",
            true,
        );
        let mut grpc_request = http::Request::post("/shop.product.v1.ProductService/GetProduct")
            .body(())
            .unwrap();
        let method = "shop.product.v1.ProductService/GetProduct";
        let client = shop_runtime::telemetry::client_span(method, grpc_request.headers_mut());
        async {
            one_wait().await;
            // The server side, as in another process: a task of its own,
            // with no current span, continuing the trace from the headers.
            tokio::spawn(async move {
                let server = shop_runtime::telemetry::GrpcServerSpan {
                    component: "product-service",
                }
                .make_span(&grpc_request);
                async {
                    let sql = tracing::info_span!(
                        "sql",
                        otel.name = "product.get",
                        db.system = "postgresql"
                    );
                    one_wait().instrument(sql).await;
                }
                .instrument(server)
                .await;
            })
            .await
            .unwrap();
            one_wait().await;
        }
        .instrument(client)
        .await;
    }
    .instrument(http_span)
    .await
}

/// User and system CPU time so far of the process and of its threads
/// whose name starts with `OpenTelemetry` (the batch exporter).
fn cpu_time() -> (std::time::Duration, std::time::Duration) {
    let ticks = |path: &std::path::Path| {
        let stat = std::fs::read_to_string(path).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        std::time::Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
    };
    let exporter = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("OpenTelemetry"))
        })
        .map(|task| ticks(&task.path().join("stat")))
        .sum();
    (ticks(std::path::Path::new("/proc/self/stat")), exporter)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let requests: u32 = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let tasks: u32 = args.next().map_or(Ok(1), |n| n.parse())?;
    // As `shop up` installs it: the components share this process, each
    // exporting as itself.
    let telemetry = shop_runtime::telemetry::init_shared(
        &shop_runtime::Env::process(),
        "span-cost",
        &[gateway::COMPONENT, "product-service"],
    )?;
    let run = |count: u32| async move {
        let loops: Vec<_> = (0..tasks)
            .map(|_| {
                tokio::spawn(async move {
                    for _ in 0..count / tasks {
                        request().await;
                    }
                })
            })
            .collect();
        for one in loops {
            one.await.unwrap();
        }
    };
    run(requests / 10).await; // warm-up
    let (started, (cpu_before, exporter_before)) = (std::time::Instant::now(), cpu_time());
    run(requests).await;
    // The export of these requests' spans is part of their cost. Flushing
    // blocks until the exporter is done: off the runtime's worker.
    tokio::task::block_in_place(|| telemetry.flush());
    let (wall, (cpu, exporter)) = (started.elapsed(), cpu_time());
    let per_request = |d: std::time::Duration| d.as_nanos() / u128::from(requests);
    println!(
        "{} ns of CPU ({} ns in the exporter thread), {} ns of wall time per request ({requests} requests, {tasks} tasks)",
        per_request(cpu - cpu_before),
        per_request(exporter - exporter_before),
        per_request(wall)
    );
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    Ok(())
}
