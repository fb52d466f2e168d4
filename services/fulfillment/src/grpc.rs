//! The gRPC handler: GetShipment, the caller's own orders only.

use shop_proto::fulfillment::{self as pb, fulfillment_service_server::FulfillmentService};
use shop_runtime::server::validate;
use tonic::{Request, Response, Status};

use crate::error::Result;
use crate::store::{Shipment, ShipmentStatus, Store};

/// The FulfillmentService implementation.
#[derive(Debug, Clone)]
pub struct FulfillmentApi {
    store: Store,
}

impl FulfillmentApi {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn get(&self, req: pb::GetShipmentRequest) -> Result<pb::Shipment> {
        let user_id = validate::user_id(&req.user_id)?;
        let order_id = validate::uuid("order_id", &req.order_id)?;
        Ok(to_pb(self.store.shipment(order_id, &user_id).await?))
    }
}

#[tonic::async_trait]
impl FulfillmentService for FulfillmentApi {
    async fn get_shipment(
        &self,
        request: Request<pb::GetShipmentRequest>,
    ) -> Result<Response<pb::Shipment>, Status> {
        Ok(Response::new(self.get(request.into_inner()).await?))
    }
}

fn to_pb(s: Shipment) -> pb::Shipment {
    let status = match s.status {
        ShipmentStatus::Preparing => pb::ShipmentStatus::Preparing,
        ShipmentStatus::Shipped => pb::ShipmentStatus::Shipped,
        ShipmentStatus::Cancelled => pb::ShipmentStatus::Cancelled,
    };
    pb::Shipment {
        order_id: s.order_id.to_string(),
        status: status.into(),
        tracking_number: s.tracking_number,
        updated_at: Some(prost_types::Timestamp {
            seconds: s.updated_at.timestamp(),
            nanos: i32::try_from(s.updated_at.timestamp_subsec_nanos()).unwrap_or(0),
        }),
    }
}
