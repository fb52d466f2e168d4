//! The view of product-service that cart-service needs: current products and
//! prices, fetched in one batch call with a deadline and retried on
//! UNAVAILABLE (a batch get is a read, safe to repeat).

use std::collections::HashMap;

use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::{BatchGetProductsRequest, Product};
use shop_runtime::client::CallPolicy;
use shop_runtime::client::Traced;
use uuid::Uuid;

use crate::error::{Error, Result};

/// Client of product-service.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Shared channel; cloning it is cheap.
    client: ProductServiceClient<Traced>,
    /// Deadline and retries of each call.
    policy: CallPolicy,
}

impl Catalog {
    /// A catalog over `channel`.
    pub fn new(channel: Traced, policy: CallPolicy) -> Self {
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
            .retry(|| {
                let mut client = self.client.clone();
                let request = self.policy.request(request.clone());
                async move { client.batch_get_products(request).await }
            })
            .await
            .map_err(Error::from_product_service)?
            .into_inner();
        response
            .products
            .into_iter()
            .map(|p| {
                let id = Uuid::parse_str(&p.id).map_err(|e| {
                    Error::Internal(anyhow::anyhow!("product-service sent id {:?}: {e}", p.id))
                })?;
                Ok((id, p))
            })
            .collect()
    }
}
