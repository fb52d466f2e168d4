//! The gateway's gRPC clients: one shared channel per service, a deadline on
//! every call, the request id forwarded as `x-request-id` metadata, and the
//! trace context carried by the `Traced` channel.

use shop_runtime::tls::Tls;
use std::time::Duration;

use shop_proto::cart::cart_service_client::CartServiceClient;
use shop_proto::order::order_service_client::OrderServiceClient;
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_runtime::ConfigError;
use shop_runtime::client::Traced;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Largest answer a backend may send. tonic's default, 4 MiB, is smaller
/// than a valid page of orders can be (100 orders of 50 lines with 200-character
/// names), which made such a page fail to decode; 16 MiB holds the largest
/// page the services' own limits allow (see the test below).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Clients of product-, cart- and order-service.
#[derive(Debug, Clone)]
pub struct Backends {
    /// product-service.
    pub product: ProductServiceClient<Traced>,
    /// cart-service.
    pub cart: CartServiceClient<Traced>,
    /// order-service.
    pub order: OrderServiceClient<Traced>,
    /// Each channel with the gRPC service name its health reports.
    health: Vec<(Channel, &'static str)>,
    /// Deadline of each call.
    deadline: Duration,
}

impl Backends {
    /// Lazily connected clients of the three addresses.
    pub fn new(
        product: &str,
        cart: &str,
        order: &str,
        deadline: Duration,
        tls: &Tls,
    ) -> Result<Self, ConfigError> {
        let product = shop_runtime::client::raw_channel("PRODUCT_SERVICE_ADDR", product, tls)?;
        let cart = shop_runtime::client::raw_channel("CART_SERVICE_ADDR", cart, tls)?;
        let order = shop_runtime::client::raw_channel("ORDER_SERVICE_ADDR", order, tls)?;
        Ok(Self {
            product: ProductServiceClient::new(Traced::new(product.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            cart: CartServiceClient::new(Traced::new(cart.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            order: OrderServiceClient::new(Traced::new(order.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            health: vec![
                (
                    product,
                    shop_proto::product::product_service_server::SERVICE_NAME,
                ),
                (cart, shop_proto::cart::cart_service_server::SERVICE_NAME),
                (order, shop_proto::order::order_service_server::SERVICE_NAME),
            ],
            deadline,
        })
    }

    /// A request with the deadline and the forwarded headers (request id,
    /// trace context) as metadata.
    pub fn request<T>(
        &self,
        message: T,
        forwarded: &[(&'static str, String)],
    ) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.deadline);
        for (name, value) in forwarded {
            if let Ok(value) = value.parse() {
                request.metadata_mut().insert(*name, value);
            }
        }
        request
    }

    /// True when every backend reports SERVING.
    pub async fn all_serving(&self) -> bool {
        let checks = self.health.iter().map(|(channel, service)| {
            let mut client = HealthClient::new(channel.clone());
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: (*service).to_string(),
            });
            request.set_timeout(Duration::from_secs(1));
            async move {
                matches!(
                    client.check(request).await.map(|r| r.into_inner().status()),
                    Ok(ServingStatus::Serving)
                )
            }
        });
        futures::future::join_all(checks)
            .await
            .into_iter()
            .all(|up| up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use shop_proto::order as pb;

    #[test]
    fn the_largest_valid_page_of_orders_fits_the_message_limit_but_not_the_default() {
        // Every field at the most the services accept: 100 orders a page
        // (page_size), 50 lines an order (a cart's lines), names of 200
        // characters of four UTF-8 bytes, 64-character SKUs, the largest numbers.
        let line = pb::OrderItem {
            product_id: uuid::Uuid::nil().to_string(),
            sku: "S".repeat(64),
            name: "\u{1F600}".repeat(200),
            quantity: 99,
            unit_price_minor: i64::MAX,
            line_total_minor: i64::MAX,
        };
        let order = pb::Order {
            id: uuid::Uuid::nil().to_string(),
            number: "SO-999999999999".into(),
            user_id: "u".repeat(128),
            status: pb::OrderStatus::Rejected as i32,
            items: vec![line; 50],
            total_minor: i64::MAX,
            currency: "USD".into(),
            created_at: Some(prost_types::Timestamp::default()),
            rejection_reason: "r".repeat(64),
        };
        let page = pb::ListOrdersResponse {
            orders: vec![order; shop_runtime::validate::MAX_PAGE_SIZE as usize],
            next_page_token: "t".repeat(512),
        };
        let size = page.encoded_len();
        assert!(
            size > 4 * 1024 * 1024,
            "the old limit was too small: {size}"
        );
        assert!(size < MAX_MESSAGE_BYTES, "{size} bytes do not fit");
    }
}
