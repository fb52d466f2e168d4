//! Helpers shared by product-service's integration tests.
#![allow(dead_code)]

use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::{self as pb};
use shop_testkit::{Running, TestDb};
use tonic::transport::Channel;

/// A started product-service with its database and a connected client.
pub struct Harness {
    pub db: TestDb,
    pub service: Running,
    pub client: ProductServiceClient<Channel>,
}

/// product-service on a fresh database, with an empty catalog.
pub async fn start() -> Harness {
    start_with(&[]).await
}

/// product-service on a fresh database with extra variables.
pub async fn start_with(extra: &[(&str, &str)]) -> Harness {
    let db = TestDb::new().await;
    let service = product_service::test_util::spawn_product(&db, extra).await;
    let client = connect(&service).await;
    Harness {
        db,
        service,
        client,
    }
}

/// A client of `service`.
pub async fn connect(service: &Running) -> ProductServiceClient<Channel> {
    ProductServiceClient::connect(service.url())
        .await
        .expect("connect to product-service")
}

/// A valid create request.
pub fn new_product(sku: &str, name: &str, category: &str, stock: i64) -> pb::CreateProductRequest {
    pb::CreateProductRequest {
        sku: sku.into(),
        name: name.into(),
        description: format!("{name}, described"),
        category: category.into(),
        image_url: String::new(),
        unit_price_minor: 1250,
        currency: "USD".into(),
        initial_stock: stock,
    }
}

/// Creates a product and returns it.
pub async fn create(
    client: &mut ProductServiceClient<Channel>,
    sku: &str,
    stock: i64,
) -> pb::Product {
    client
        .create_product(new_product(sku, &format!("Product {sku}"), "test", stock))
        .await
        .expect("create product")
        .into_inner()
}

/// One reservation line.
pub fn line(product: &pb::Product, quantity: i64) -> pb::ReservationLine {
    pb::ReservationLine {
        product_id: product.id.clone(),
        quantity,
    }
}

/// The stock buckets of a product, read as an administrator.
pub async fn buckets(db: &TestDb, product_id: &str) -> (i64, i64, i64, i64) {
    let pool = db.admin_pool().await;
    let row: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT available, held, sold, stock_added FROM product.products WHERE id = $1::uuid",
    )
    .bind(product_id)
    .fetch_one(&pool)
    .await
    .expect("read buckets");
    pool.close().await;
    row
}
