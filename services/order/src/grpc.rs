//! The gRPC handlers of `shop.order.v1.OrderService`.
//!
//! A PlaceOrder answered from an earlier call with the same idempotency key
//! carries the response header `x-shop-replayed: true`, so the gateway can
//! answer 200 instead of 201.

use shop_proto::order::{self as pb, order_service_server::OrderService};
use shop_runtime::server::page_token::PageTokens;
use shop_runtime::server::validate;
use tonic::{Request, Response, Status};

use crate::domain::{self, Cursor, Order, OrderStatus};
use crate::error::{Error, Result};
use crate::saga::{Placed, Saga};
use crate::store::Store;

use shop_proto::names::REPLAYED_HEADER;

#[derive(Debug, Clone)]
pub struct OrderApi {
    /// Runs checkouts and cancellations.
    saga: Saga,
    /// Reads orders.
    store: Store,
    /// Signs and checks page tokens.
    tokens: PageTokens,
}

impl OrderApi {
    pub fn new(saga: Saga, store: Store, tokens: PageTokens) -> Self {
        Self {
            saga,
            store,
            tokens,
        }
    }

    async fn own_order(&self, user_id: &str, order_id: &str) -> Result<Order> {
        let user_id = validate::user_id(user_id)?;
        let id = validate::uuid("order_id", order_id)?;
        let order = self.store.get(id).await?;
        if order.user_id != user_id {
            return Err(Error::NotFound);
        }
        Ok(order)
    }

    async fn list(&self, req: pb::ListOrdersRequest) -> Result<pb::ListOrdersResponse> {
        let user_id = validate::user_id(&req.user_id)?;
        let scope = format!("orders\u{0}{user_id}");
        let page = self
            .tokens
            .page::<Cursor>(scope, req.page_size, &req.page_token)?;
        let rows = self
            .store
            .list(&user_id, page.after.as_ref(), page.fetch())
            .await?;
        let (orders, next_page_token) = page.finish(rows, Cursor::of);
        Ok(pb::ListOrdersResponse {
            orders: orders.into_iter().map(to_pb).collect(),
            next_page_token,
        })
    }
}

#[tonic::async_trait]
impl OrderService for OrderApi {
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let req = request.into_inner();
        let user_id = validate::user_id(&req.user_id)?;
        let key = domain::idempotency_key(&req.idempotency_key)?;
        match self.saga.place(&user_id, &key).await? {
            Placed::Created(order) => Ok(Response::new(to_pb(order))),
            Placed::Replayed(order) => {
                let mut response = Response::new(to_pb(order));
                response.metadata_mut().insert(
                    REPLAYED_HEADER,
                    tonic::metadata::MetadataValue::from_static("true"),
                );
                Ok(response)
            }
        }
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let req = request.get_ref();
        Ok(Response::new(to_pb(
            self.own_order(&req.user_id, &req.order_id).await?,
        )))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let req = request.get_ref();
        let user_id = validate::user_id(&req.user_id)?;
        let id = validate::uuid("order_id", &req.order_id)?;
        Ok(Response::new(to_pb(self.saga.cancel(&user_id, id).await?)))
    }
}

fn to_pb(order: Order) -> pb::Order {
    let status = match order.status {
        OrderStatus::Pending => pb::OrderStatus::Pending,
        OrderStatus::Confirmed => pb::OrderStatus::Confirmed,
        OrderStatus::Rejected => pb::OrderStatus::Rejected,
        OrderStatus::Cancelled => pb::OrderStatus::Cancelled,
    };
    pb::Order {
        number: order.display_number(),
        id: order.id.to_string(),
        user_id: order.user_id,
        status: status.into(),
        items: order
            .items
            .into_iter()
            .map(|i| pb::OrderItem {
                product_id: i.product_id.to_string(),
                sku: i.sku,
                name: i.name,
                quantity: i.quantity,
                unit_price_minor: i.unit_price_minor,
                line_total_minor: i.line_total_minor,
            })
            .collect(),
        total_minor: order.total_minor,
        currency: order.currency,
        created_at: Some(prost_types::Timestamp {
            seconds: order.created_at.timestamp(),
            nanos: order.created_at.timestamp_subsec_nanos() as i32,
        }),
        rejection_reason: order
            .rejection_reason
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        fulfillment_status: order.fulfillment_status.unwrap_or_default(),
    }
}
