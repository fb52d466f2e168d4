//! product-service as a process: seeding, health, readiness, reflection,
//! metrics, graceful shutdown, and a role confined to its schema.

mod common;

use common::{start, start_with};
use shop_proto::product as pb;
use shop_testkit::TestDb;
use tokio_stream::StreamExt as _;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn first_start_seeds_the_demo_catalog_once() {
    let db = TestDb::new().await;
    let seed = [("SEED_DEMO_CATALOG", "true")];
    let first = product_service::test_util::spawn_product(&db, &seed).await;
    let mut client = common::connect(&first).await;
    let all = client
        .list_products(pb::ListProductsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .products;
    first.stop().await.unwrap();

    let categories: std::collections::HashSet<_> = all.iter().map(|p| p.category.clone()).collect();
    assert!(all.len() >= 20, "{} products", all.len());
    assert!(categories.len() >= 4, "{categories:?}");
    assert!(
        all.iter()
            .all(|p| p.image_url.starts_with("/images/") && p.available > 0)
    );

    // A restart finds products and seeds nothing more.
    let second = product_service::test_util::spawn_product(&db, &seed).await;
    let mut client = common::connect(&second).await;
    let again = client
        .list_products(pb::ListProductsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .products;
    assert_eq!(again.len(), all.len());
    second.stop().await.unwrap();
}

#[tokio::test]
async fn health_reports_serving_then_not_serving_when_shutdown_begins() {
    let mut h = start().await;
    shop_testkit::assert_health_flips_on_shutdown(&mut h.service, product_service::SERVICE_NAME)
        .await;
}

#[tokio::test]
async fn after_shutdown_new_calls_are_refused() {
    let h = start().await;
    let url = h.service.url();
    h.service.stop().await.unwrap();
    let err = match pb::product_service_client::ProductServiceClient::connect(url).await {
        Err(_) => return, // connection refused
        Ok(mut c) => c
            .list_products(pb::ListProductsRequest::default())
            .await
            .unwrap_err(),
    };
    assert_eq!(err.code(), tonic::Code::Unavailable);
}

#[tokio::test]
async fn reflection_when_enabled_lists_the_product_service_and_health() {
    let h = start_with(&[("GRPC_REFLECTION", "on")]).await;
    let mut reflection = ServerReflectionClient::new(channel(&h.service).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&product_service::SERVICE_NAME.to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn readyz_is_ok_while_serving_and_metrics_count_calls() {
    let mut h = start().await;
    let admin = format!("http://{}", h.service.admin_addr);
    h.client
        .get_product(pb::GetProductRequest { id: "bad".into() })
        .await
        .unwrap_err();

    let ready = http_get(&format!("{admin}/readyz")).await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let healthz = http_get(&format!("{admin}/healthz")).await;
    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
    let metrics = http_get(&format!("{admin}/metrics")).await;
    assert!(
        metrics.contains(r#"method="/shop.product.v1.ProductService/GetProduct""#)
            && metrics.contains(r#"code="InvalidArgument""#),
        "{metrics}"
    );
    assert!(metrics.contains("db_pool_connections"), "{metrics}");
}

#[tokio::test]
async fn a_service_role_cannot_read_another_services_schema() {
    let db = TestDb::new().await;
    // Give the product schema a table, as product-service would.
    let product = product_service::test_util::spawn_product(&db, &[]).await;
    product.stop().await.unwrap();

    let cart = sqlx::PgPool::connect(&db.url("cart_svc")).await.unwrap();
    let err = sqlx::query("SELECT count(*) FROM product.products")
        .fetch_one(&cart)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    // Not in `public` either.
    let err = sqlx::query("CREATE TABLE public.sneaky (id int)")
        .execute(&cart)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");

    let own = sqlx::PgPool::connect(&db.url("product_svc")).await.unwrap();
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&own)
        .await
        .unwrap();
    assert_eq!(schema, "product");
}

#[tokio::test]
async fn a_missing_schema_fails_start_with_a_clear_message() {
    let db = TestDb::new().await;
    let admin = db.admin_pool().await;
    sqlx::query("DROP SCHEMA product CASCADE")
        .execute(&admin)
        .await
        .unwrap();
    let service = product_service::test_util::spawn_product(&db, &[]).await;
    let err = service.stop().await.unwrap_err();
    assert!(err.to_string().contains("bootstrap.sql"), "{err}");
}

async fn channel(service: &shop_testkit::Running) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(service.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A minimal HTTP/1.1 GET, so the test needs no HTTP client crate.
async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(
            format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn the_healthcheck_probe_passes_for_a_serving_instance_and_fails_without_one() {
    let h = start().await;
    let name = product_service::SERVICE_NAME;
    assert!(shop_runtime::server::healthcheck::grpc_serving(h.service.addr, name).await);
    assert!(
        shop_runtime::server::healthcheck::grpc_serving(
            h.service.addr,
            shop_runtime::server::LIVENESS
        )
        .await
    );
    assert!(shop_runtime::server::healthcheck::http_ready(h.service.admin_addr).await);
    let addr = h.service.addr;
    h.service.stop().await.unwrap();
    assert!(!shop_runtime::server::healthcheck::grpc_serving(addr, name).await);
}
