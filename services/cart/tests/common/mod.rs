//! What the cart-service tests share: product- and cart-service on port 0
//! over one fresh database.
#![allow(dead_code)]

use shop_proto::cart::cart_service_client::CartServiceClient;
use shop_proto::cart::{self as pb};
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::{self as product_pb};
use shop_testkit::{Running, TestDb};
use tonic::transport::Channel;

/// product- and cart-service on a fresh database, with a client for each.
pub struct Harness {
    pub db: TestDb,
    pub product: Running,
    pub cart_service: Running,
    pub products: ProductServiceClient<Channel>,
    pub cart: CartServiceClient<Channel>,
}

/// Starts product- and cart-service on a fresh database.
pub async fn start() -> Harness {
    start_with(&[]).await
}

/// [`start`], with `vars` added to both services' variables.
pub async fn start_with(vars: &[(&str, &str)]) -> Harness {
    let db = TestDb::new().await;
    let product = product_service::test_util::spawn_product(&db, vars).await;
    let cart_service = cart_service::test_util::spawn_cart(&db, &product, vars).await;
    let products = ProductServiceClient::connect(product.url()).await.unwrap();
    let cart = CartServiceClient::connect(cart_service.url())
        .await
        .unwrap();
    Harness {
        db,
        product,
        cart_service,
        products,
        cart,
    }
}

impl Harness {
    /// A USD product with 100 units.
    pub async fn product(&mut self, sku: &str, price: i64) -> product_pb::Product {
        self.product_in(sku, price, "USD").await
    }

    /// A product priced in `currency`, with 100 units.
    pub async fn product_in(
        &mut self,
        sku: &str,
        price: i64,
        currency: &str,
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
                initial_stock: 100,
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// AddItem.
    pub async fn add(
        &mut self,
        user: &str,
        product_id: &str,
        quantity: i64,
    ) -> Result<pb::Cart, tonic::Status> {
        self.cart
            .add_item(pb::AddItemRequest {
                user_id: user.into(),
                product_id: product_id.into(),
                quantity,
            })
            .await
            .map(|r| r.into_inner())
    }

    /// GetCart.
    pub async fn get(&mut self, user: &str) -> Result<pb::Cart, tonic::Status> {
        self.cart
            .get_cart(pb::GetCartRequest {
                user_id: user.into(),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// SetItemQuantity.
    pub async fn set(
        &mut self,
        user: &str,
        product_id: &str,
        quantity: i64,
    ) -> Result<pb::Cart, tonic::Status> {
        self.cart
            .set_item_quantity(pb::SetItemQuantityRequest {
                user_id: user.into(),
                product_id: product_id.into(),
                quantity,
            })
            .await
            .map(|r| r.into_inner())
    }
}

pub fn quantities(cart: &pb::Cart) -> Vec<(String, i64)> {
    cart.items
        .iter()
        .map(|i| (i.sku.clone(), i.quantity))
        .collect()
}
