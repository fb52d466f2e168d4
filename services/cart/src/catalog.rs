//! The view of product-service that cart-service needs: current products and
//! prices, fetched in one batch call under the runtime's call policy (a
//! deadline, retries on UNAVAILABLE: a batch get is a read, safe to repeat).

use std::collections::HashMap;

use shop_proto::product::BatchGetProductsRequest;
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_runtime::Failure;
use shop_runtime::client::{CallError, CallPolicy, Client};
use uuid::Uuid;

use crate::domain::Product;
use crate::error::Result;

/// Component name of the service called, in errors.
const PRODUCT_SERVICE: &str = "product-service";

/// Client of product-service.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Shared channel; cloning it is cheap.
    client: ProductServiceClient<Client>,
    policy: CallPolicy,
}

impl Catalog {
    pub fn new(channel: Client, policy: CallPolicy) -> Self {
        Self {
            client: ProductServiceClient::new(channel),
            policy,
        }
    }

    /// The products among `ids` that exist, by id.
    pub async fn products(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Product>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let request = BatchGetProductsRequest {
            ids: ids.iter().map(Uuid::to_string).collect(),
        };
        let response = self
            .policy
            .unary(&self.client, request, |mut client, request| async move {
                client.batch_get_products(request).await
            })
            .await
            .map_err(|status| CallError::new(PRODUCT_SERVICE, status))?;
        response
            .products
            .into_iter()
            .map(|p| -> Result<(Uuid, Product)> {
                let id = Uuid::parse_str(&p.id).map_err(|e| {
                    Failure::internal(anyhow::anyhow!("{PRODUCT_SERVICE} sent id {:?}: {e}", p.id))
                })?;
                let product = Product {
                    id,
                    sku: p.sku,
                    name: p.name,
                    unit_price_minor: p.unit_price_minor,
                    currency: p.currency,
                };
                Ok((id, product))
            })
            .collect()
    }
}
