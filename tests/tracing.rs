//! One checkout through the gateway makes one trace that runs through every
//! service it touched, exported over OTLP/gRPC to a receiver inside this
//! test: the gateway's HTTP span, client and server spans of every gRPC hop
//! with correct parent links, SQL spans under the service spans, and on
//! through NATS JetStream: fulfillment-service's span for the order's
//! `shop.order.confirmed` event is in the same trace, under PlaceOrder.
//!
//! All components run in this process, installed as `shop up` installs
//! them: each span is exported with the `service.name` of the component
//! that made it.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};
use support::{Stack, TEST_ADMIN_PASSWORD};

/// An OTLP trace receiver that keeps every span, with the `service.name`
/// of the resource it came under.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<(String, Span)>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .and_then(|r| string(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    string(&span.attributes, key)
}

fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

/// True when `ancestor` is `span` or one of its ancestors in `by_id`.
fn descends_from(span: &Span, ancestor: &Span, by_id: &HashMap<Vec<u8>, &Span>) -> bool {
    let mut current = Some(span);
    while let Some(s) = current {
        if s.span_id == ancestor.span_id {
            return true;
        }
        current = by_id.get(&s.parent_span_id).copied();
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_checkout_is_one_trace_through_gateway_order_cart_product_and_sql() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = receiver.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let telemetry = Arc::new(
        shop_runtime::telemetry::init_shared(
            &support::env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                // Logs at warn: RUST_LOG filters logs, never the trace,
                // which must still hold every span below.
                ("RUST_LOG", "warn"),
            ]),
            "shop-test",
            &shop_topology::Component::ALL.map(shop_topology::Component::name),
        )
        .unwrap(),
    );

    // Events on: the trace goes on through the broker to fulfillment-service.
    let nats = shop_natstemp::NatsServer::start()
        .await
        .expect("nats-server");
    let stack = Stack::start_with_events(&nats.url()).await;
    let base = stack.base_url();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": TEST_ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let product: Value = http
        .post(format!("{base}/api/v1/products"))
        .bearer_auth(login["token"].as_str().unwrap())
        .json(
            &json!({"sku": "MUG", "name": "Mug", "category": "kitchen", "unit_price_cents": 1000,
                      "currency": "USD", "available": 5}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let guest: Value = http
        .post(format!("{base}/api/v1/auth/guest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = guest["token"].as_str().unwrap();
    http.post(format!("{base}/api/v1/cart/items"))
        .bearer_auth(token)
        .json(&json!({"product_id": product["id"], "quantity": 2}))
        .send()
        .await
        .unwrap();
    let placed = http
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(token)
        .header("Idempotency-Key", "trace-me")
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201);

    // Wait for the batch exporter.
    let mut spans = Vec::new();
    let mut service = HashMap::new();
    for _ in 0..50 {
        let flushing = telemetry.clone();
        tokio::task::spawn_blocking(move || flushing.flush())
            .await
            .unwrap();
        let received = receiver.0.lock().unwrap().clone();
        service = received
            .iter()
            .map(|(name, s)| (s.span_id.clone(), name.clone()))
            .collect();
        spans = received.into_iter().map(|(_, s)| s).collect();
        if spans
            .iter()
            .any(|s| attribute(s, "http.route").as_deref() == Some("/api/v1/orders"))
            && spans.iter().any(|s| s.name == "cart.remove_purchased")
            && spans
                .iter()
                .any(|s| s.name == "consume shop.order.confirmed")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let root = spans
        .iter()
        .find(|s| attribute(s, "http.route").as_deref() == Some("/api/v1/orders"))
        .unwrap_or_else(|| {
            panic!(
                "the gateway span of the checkout among {:?}",
                spans.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        root.name, "POST /api/v1/orders",
        "named by method and route"
    );
    let trace: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == root.trace_id)
        .collect();
    let by_id: HashMap<Vec<u8>, &Span> = trace.iter().map(|s| (s.span_id.clone(), *s)).collect();
    let service_of = |span: &Span| service.get(&span.span_id).cloned().unwrap_or_default();

    let server = |service: &str, method: &str| {
        trace
            .iter()
            .copied()
            .find(|s| {
                attribute(s, "rpc.service").as_deref() == Some(service)
                    && attribute(s, "rpc.method").as_deref() == Some(method)
            })
            .unwrap_or_else(|| {
                panic!(
                    "a server span of {service}/{method} in the trace: {:#?}",
                    names(&trace)
                )
            })
    };
    let place = server("shop.order.v1.OrderService", "PlaceOrder");
    let get_cart = server("shop.cart.v1.CartService", "GetCart");
    let batch = server("shop.product.v1.ProductService", "BatchGetProducts");
    let reserve = server("shop.product.v1.ProductService", "ReserveStock");
    let remove = server("shop.cart.v1.CartService", "RemovePurchasedItems");

    // Each span is exported as the component that made it.
    for (span, component) in [
        (root, "gateway"),
        (place, "order-service"),
        (get_cart, "cart-service"),
        (batch, "product-service"),
        (reserve, "product-service"),
        (remove, "cart-service"),
    ] {
        assert_eq!(service_of(span), component, "service.name of {}", span.name);
    }

    // Every hop: server span ← client span ← the caller's server span.
    let hop = |child: &Span, parent: &Span| {
        let client = by_id
            .get(&child.parent_span_id)
            .expect("a server span's parent is in the trace");
        assert!(
            client.name.ends_with(&child.name),
            "{} is called by a client span, got {}",
            child.name,
            client.name
        );
        assert!(
            descends_from(client, parent, &by_id),
            "{} runs under {}",
            child.name,
            parent.name
        );
        assert_eq!(
            service_of(client),
            service_of(parent),
            "the client span of {} is the caller's",
            child.name
        );
    };
    hop(place, root);
    hop(get_cart, place);
    hop(batch, get_cart);
    hop(reserve, place);
    hop(remove, place);

    // SQL spans sit under the server span of the service that ran them.
    let sql = |name: &str| {
        trace
            .iter()
            .copied()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("SQL span {name}"))
    };
    for (name, server) in [
        ("orders.insert_pending", place),
        ("product.reserve", reserve),
        ("cart.remove_purchased", remove),
    ] {
        assert!(
            descends_from(sql(name), server, &by_id),
            "{name} under {}",
            server.name
        );
        assert_eq!(
            service_of(sql(name)),
            service_of(server),
            "service.name of {name}"
        );
    }
    assert_eq!(
        attribute(sql("product.reserve"), "db.system").as_deref(),
        Some("postgresql")
    );

    // Through the broker: fulfillment-service's consumer span continues the
    // trace from the event's traceparent, under the statement that wrote
    // the event into the outbox in PlaceOrder's transaction.
    let consume = trace
        .iter()
        .copied()
        .find(|s| s.name == "consume shop.order.confirmed")
        .unwrap_or_else(|| panic!("the consumer's span in the trace: {:#?}", names(&trace)));
    assert_eq!(service_of(consume), "fulfillment-service");
    assert!(
        descends_from(consume, place, &by_id),
        "the consumer runs under PlaceOrder"
    );
    assert_eq!(
        attribute(consume, "messaging.system").as_deref(),
        Some("nats")
    );

    // The span tree of this checkout, for the README's "Observe it".
    let mut tree = String::new();
    print_tree(root, &trace, &service, 0, &mut tree);
    let artifacts = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("checkout-trace.txt"), &tree).unwrap();

    // Health checks make no spans.
    assert!(
        !spans.iter().any(|s| s.name.contains("grpc.health")),
        "health checks are not traced"
    );
    drop(telemetry);
}

fn print_tree(
    span: &Span,
    trace: &[&Span],
    service: &HashMap<Vec<u8>, String>,
    depth: usize,
    out: &mut String,
) {
    let millis = (span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano)) as f64
        / 1e6;
    let label = format!("{}{}", "  ".repeat(depth), span.name);
    out.push_str(&format!(
        "{label:<68} {:<16} {millis:>8.2} ms\n",
        service.get(&span.span_id).map_or("", String::as_str)
    ));
    let mut children: Vec<&&Span> = trace
        .iter()
        .filter(|s| s.parent_span_id == span.span_id)
        .collect();
    children.sort_by_key(|s| s.start_time_unix_nano);
    for child in children {
        print_tree(child, trace, service, depth + 1, out);
    }
}

fn names(trace: &[&Span]) -> Vec<String> {
    trace.iter().map(|s| s.name.clone()).collect()
}
