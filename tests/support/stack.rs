//! The whole stack in this process: product, cart, order, fulfillment and
//! the gateway, each on port 0, on one fresh database.

use cart_service::test_util::spawn_cart;
use fulfillment_service::test_util::spawn_fulfillment;
use gateway::test_util::spawn_gateway;
use order_service::test_util::spawn_order;
use product_service::test_util::spawn_product;
use shop_testkit::{Running, TestDb};
use shop_topology::Component;

/// Every component on one fresh database.
#[derive(Debug)]
pub struct Stack {
    pub db: TestDb,
    pub product: Running,
    pub cart: Running,
    pub order: Running,
    pub fulfillment: Running,
    pub gateway: Running,
}

impl Stack {
    /// Starts every component; `gateway_vars` add or override the gateway's variables.
    pub async fn start(gateway_vars: &[(&str, &str)]) -> Self {
        Self::start_with(gateway_vars, &[]).await
    }

    /// [`Stack::start`], with `order_vars` added to order-service's variables.
    pub async fn start_with(gateway_vars: &[(&str, &str)], order_vars: &[(&str, &str)]) -> Self {
        Self::start_services_with(gateway_vars, &[], order_vars).await
    }

    /// Every component, the services publishing and consuming events
    /// through the NATS server at `nats_url`.
    pub async fn start_with_events(nats_url: &str) -> Self {
        let events = [("NATS_URL", nats_url)];
        Self::start_services_with(&[], &events, &events).await
    }

    /// Every component: `gateway_vars` to the gateway, `service_vars` to
    /// product, cart and fulfillment, `order_vars` to order-service.
    pub async fn start_services_with(
        gateway_vars: &[(&str, &str)],
        service_vars: &[(&str, &str)],
        order_vars: &[(&str, &str)],
    ) -> Self {
        let db = TestDb::new().await;
        let product = spawn_product(&db, service_vars).await;
        let cart = spawn_cart(&db, &product, service_vars).await;
        let order = spawn_order(&db, &cart, &product, order_vars).await;
        let fulfillment = spawn_fulfillment(&db, service_vars).await;
        let backends = [
            (Component::Product, &product),
            (Component::Cart, &cart),
            (Component::Order, &order),
            (Component::Fulfillment, &fulfillment),
        ];
        let gateway = spawn_gateway(&backends, gateway_vars).await;
        Self {
            db,
            product,
            cart,
            order,
            fulfillment,
            gateway,
        }
    }

    /// Base URL of the gateway, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        self.gateway.url()
    }
}
