//! The gateway's gRPC clients: one shared channel per service, and one
//! place where every call gets what it carries. A handler extracts the
//! [`CallContext`] of its HTTP request once and calls through
//! `state.backends.product(&ctx)` (or `cart`, `order`): each request of that
//! client gets the deadline and the `x-request-id` metadata, and the
//! `Client` channel adds the trace context of the current span.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use shop_proto::cart::cart_service_client::CartServiceClient;
use shop_proto::fulfillment::fulfillment_service_client::FulfillmentServiceClient;
use shop_proto::order::order_service_client::OrderServiceClient;
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_runtime::ConfigError;
use shop_runtime::client::{Client, layered};
use shop_runtime::config::Tls;
use shop_topology::Component;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Largest answer a backend may send. tonic's default, 4 MiB, is smaller
/// than a valid page of orders can be (100 orders of 50 lines with 200-character
/// names), which made such a page fail to decode; 16 MiB holds the largest
/// page the services' own limits allow (see the test below).
pub(crate) const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The header, and metadata key, of the request id.
const REQUEST_ID: &str = "x-request-id";

/// What every backend call made for one HTTP request carries on from it:
/// the request id the request-id middleware set or kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallContext {
    request_id: Option<MetadataValue<Ascii>>,
}

impl<S: Send + Sync> FromRequestParts<S> for CallContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .headers
            .get(REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Ok(Self { request_id })
    }
}

/// Stamps each request of a client with the deadline and the request id.
#[derive(Debug, Clone)]
pub(crate) struct Stamp {
    deadline: Duration,
    request_id: Option<MetadataValue<Ascii>>,
}

impl Interceptor for Stamp {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request.set_timeout(self.deadline);
        if let Some(id) = &self.request_id {
            request.metadata_mut().insert(REQUEST_ID, id.clone());
        }
        Ok(request)
    }
}

/// The channel of a client made for one request.
pub(crate) type Stamped = InterceptedService<Client, Stamp>;

/// A channel to every service the gateway calls.
#[derive(Debug, Clone)]
pub(crate) struct Backends {
    /// Each service's channel, with every client layer.
    clients: BTreeMap<Component, Client>,
    /// Each channel with the gRPC service name its health reports.
    health: Vec<(Channel, &'static str)>,
    /// Deadline of each call.
    deadline: Duration,
}

impl Backends {
    /// Lazily connected channels to `addrs`.
    pub(crate) fn new(
        addrs: &[(Component, String)],
        deadline: Duration,
        tls: &Tls,
        faults: &shop_runtime::chaos::Faults,
    ) -> Result<Self, ConfigError> {
        let mut clients = BTreeMap::new();
        let mut health = Vec::new();
        for (service, addr) in addrs {
            let spec = service.spec();
            let (Some(var), Some(name)) = (spec.addr_var, spec.grpc_service) else {
                continue;
            };
            let channel = shop_runtime::client::raw_channel(var, addr, tls)?;
            clients.insert(*service, layered(channel.clone(), faults));
            health.push((channel, name));
        }
        Ok(Self {
            clients,
            health,
            deadline,
        })
    }

    /// The channel to `service`, stamped for the request `ctx` comes from.
    fn stamped(&self, service: Component, ctx: &CallContext) -> Stamped {
        let channel = self
            .clients
            .get(&service)
            .unwrap_or_else(|| panic!("the gateway calls {service} (shop-topology)"));
        let stamp = Stamp {
            deadline: self.deadline,
            request_id: ctx.request_id.clone(),
        };
        InterceptedService::new(channel.clone(), stamp)
    }
    /// product-service, for the calls of the request `ctx` comes from.
    pub(crate) fn product(&self, ctx: &CallContext) -> ProductServiceClient<Stamped> {
        ProductServiceClient::new(self.stamped(Component::Product, ctx))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// cart-service, for the calls of the request `ctx` comes from.
    pub(crate) fn cart(&self, ctx: &CallContext) -> CartServiceClient<Stamped> {
        CartServiceClient::new(self.stamped(Component::Cart, ctx))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// order-service, for the calls of the request `ctx` comes from.
    pub(crate) fn order(&self, ctx: &CallContext) -> OrderServiceClient<Stamped> {
        OrderServiceClient::new(self.stamped(Component::Order, ctx))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// fulfillment-service, for the calls of the request `ctx` comes from.
    pub(crate) fn fulfillment(&self, ctx: &CallContext) -> FulfillmentServiceClient<Stamped> {
        FulfillmentServiceClient::new(self.stamped(Component::Fulfillment, ctx))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// True when every backend reports SERVING.
    pub(crate) async fn all_serving(&self) -> bool {
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

    async fn context_of(request: axum::http::Request<()>) -> CallContext {
        let (mut parts, ()) = request.into_parts();
        let Ok(ctx) = CallContext::from_request_parts(&mut parts, &()).await;
        ctx
    }

    #[tokio::test]
    async fn every_call_carries_the_deadline_and_the_request_id_of_its_request() {
        let http = axum::http::Request::get("/")
            .header(REQUEST_ID, "req-1")
            .body(());
        let ctx = context_of(http.unwrap()).await;
        let mut stamp = Stamp {
            deadline: Duration::from_secs(5),
            request_id: ctx.request_id,
        };
        let request = stamp.call(tonic::Request::new(())).unwrap();
        assert_eq!(request.metadata().get(REQUEST_ID).unwrap(), "req-1");
        assert!(request.metadata().get("grpc-timeout").is_some());
    }

    #[tokio::test]
    async fn a_request_without_an_id_forwards_none() {
        let ctx = context_of(axum::http::Request::get("/").body(()).unwrap()).await;
        let mut stamp = Stamp {
            deadline: Duration::from_secs(5),
            request_id: ctx.request_id,
        };
        let request = stamp.call(tonic::Request::new(())).unwrap();
        assert!(request.metadata().get(REQUEST_ID).is_none());
        assert!(request.metadata().get("grpc-timeout").is_some());
    }

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
            fulfillment_status: "SHIPPED".into(),
        };
        let page = pb::ListOrdersResponse {
            orders: vec![order; shop_runtime::server::validate::MAX_PAGE_SIZE as usize],
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
