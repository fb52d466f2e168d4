//! What the order-service tests share: product-, cart- and order-service on
//! port 0 over one fresh database, with a client for each.
#![allow(dead_code)]

use shop_proto::cart::cart_service_client::CartServiceClient;
use shop_proto::cart::{self as cart_pb};
use shop_proto::order::order_service_client::OrderServiceClient;
use shop_proto::order::{self as pb};
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::{self as product_pb};
use shop_testkit::{Running, TestDb, invariant_violations};
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

/// The three services and their clients.
pub struct Stack {
    pub db: TestDb,
    pub product: Running,
    pub cart: Running,
    pub order: Running,
    pub products: ProductServiceClient<Channel>,
    pub carts: CartServiceClient<Channel>,
    pub orders: OrderServiceClient<Channel>,
}

/// Starts the three services on a fresh database.
pub async fn start() -> Stack {
    start_with(&[]).await
}

/// [`start`], with `order_vars` added to order-service's variables.
pub async fn start_with(order_vars: &[(&str, &str)]) -> Stack {
    let db = TestDb::new().await;
    let product = product_service::test_util::spawn_product(&db, &[]).await;
    let cart = cart_service::test_util::spawn_cart(&db, &product, &[]).await;
    let order = order_service::test_util::spawn_order(&db, &cart, &product, order_vars).await;
    Stack {
        products: ProductServiceClient::connect(product.url()).await.unwrap(),
        carts: CartServiceClient::connect(cart.url()).await.unwrap(),
        orders: OrderServiceClient::connect(order.url()).await.unwrap(),
        db,
        product,
        cart,
        order,
    }
}

impl Stack {
    /// A USD product with `stock` units.
    pub async fn product(&mut self, sku: &str, price: i64, stock: i64) -> product_pb::Product {
        self.product_in(sku, price, "USD", stock).await
    }

    /// A product priced in `currency` with `stock` units.
    pub async fn product_in(
        &mut self,
        sku: &str,
        price: i64,
        currency: &str,
        stock: i64,
    ) -> product_pb::Product {
        self.products
            .create_product(product_pb::CreateProductRequest {
                sku: sku.into(),
                name: format!("Product {sku}"),
                description: String::new(),
                category: "test".into(),
                image_url: String::new(),
                unit_price_minor: price,
                currency: currency.into(),
                initial_stock: stock,
            })
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn add(&mut self, user: &str, product: &product_pb::Product, quantity: i64) {
        self.carts
            .add_item(cart_pb::AddItemRequest {
                user_id: user.into(),
                product_id: product.id.clone(),
                quantity,
            })
            .await
            .unwrap();
    }

    pub async fn place(
        &mut self,
        user: &str,
        key: &str,
    ) -> Result<tonic::Response<pb::Order>, tonic::Status> {
        self.orders
            .place_order(pb::PlaceOrderRequest {
                user_id: user.into(),
                idempotency_key: key.into(),
            })
            .await
    }

    pub async fn cart(&mut self, user: &str) -> cart_pb::Cart {
        self.carts
            .get_cart(cart_pb::GetCartRequest {
                user_id: user.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn available(&mut self, product: &product_pb::Product) -> i64 {
        self.products
            .get_product(product_pb::GetProductRequest {
                id: product.id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .available
    }

    pub async fn assert_invariants(&self) {
        let violations = invariant_violations(&self.db).await;
        assert!(violations.is_empty(), "{violations:#?}");
    }
}

/// The `ErrorInfo` reason of a status, or "".
pub fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

/// Asserts that the invariant check names a violation starting with
/// `prefix`: the check catches the state the test made.
pub async fn assert_violation(db: &TestDb, prefix: &str) {
    let violations = invariant_violations(db).await;
    assert!(
        violations.iter().any(|v| v.starts_with(prefix)),
        "no violation starting with {prefix:?} in {violations:#?}"
    );
}
