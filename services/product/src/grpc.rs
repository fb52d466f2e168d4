//! The gRPC handlers of `shop.product.v1.ProductService`.
//!
//! Each handler validates its request into domain types, calls the store,
//! and maps the result back to protobuf. Errors go through
//! [`crate::error::Error`] and its one mapping to `tonic::Status`.

use std::time::Duration;

use shop_proto::product::{self as pb, product_service_server::ProductService};
use shop_runtime::server::page_token::PageTokens;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::{
    self, Currency, Cursor, ListFilter, NewProduct, Product, ProductPatch, Reservation,
    ReserveRequest, Sku,
};
use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct ProductApi {
    store: Store,
    /// Signs and checks page tokens.
    tokens: PageTokens,
    /// TTL of a reservation when the caller sends none.
    default_ttl: Duration,
}

impl ProductApi {
    pub fn new(store: Store, tokens: PageTokens, default_ttl: Duration) -> Self {
        Self {
            store,
            tokens,
            default_ttl,
        }
    }

    async fn list(&self, req: pb::ListProductsRequest) -> Result<pb::ListProductsResponse> {
        let filter = ListFilter {
            category: non_empty(domain::text("category", &req.category, 0, 64)?),
            query: non_empty(domain::text("query", &req.query, 0, 200)?),
        };
        let page = self
            .tokens
            .page::<Cursor>(filter.scope(), req.page_size, &req.page_token)?;
        let rows = self
            .store
            .list(&filter, page.after.as_ref(), page.fetch())
            .await?;
        let (products, next_page_token) = page.finish(rows, Cursor::of);
        Ok(pb::ListProductsResponse {
            products: products.into_iter().map(to_pb).collect(),
            next_page_token,
        })
    }

    async fn batch_get(
        &self,
        req: pb::BatchGetProductsRequest,
    ) -> Result<pb::BatchGetProductsResponse> {
        if req.ids.len() > domain::MAX_BATCH {
            return Err(Error::invalid(
                "ids",
                format!("at most {} ids, got {}", domain::MAX_BATCH, req.ids.len()),
            ));
        }
        let mut ids: Vec<Uuid> = Vec::with_capacity(req.ids.len());
        for raw in &req.ids {
            let id = domain::parse_id("ids", raw)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut found = self.store.get_many(&ids).await?;
        let mut products = Vec::with_capacity(found.len());
        let mut not_found_ids = Vec::new();
        for id in ids {
            match found.iter().position(|p| p.id == id) {
                Some(i) => products.push(to_pb(found.swap_remove(i))),
                None => not_found_ids.push(id.to_string()),
            }
        }
        Ok(pb::BatchGetProductsResponse {
            products,
            not_found_ids,
        })
    }

    async fn create(&self, req: pb::CreateProductRequest) -> Result<Product> {
        let initial_stock = domain::initial_stock(req.initial_stock)?;
        let new = NewProduct {
            sku: Sku::parse(&req.sku)?,
            name: domain::text("name", &req.name, 1, 200)?,
            description: domain::text("description", &req.description, 0, 5000)?,
            category: domain::text("category", &req.category, 1, 64)?,
            image_url: domain::image_url(&req.image_url)?,
            unit_price_minor: domain::unit_price(req.unit_price_minor)?,
            currency: Currency::parse(&req.currency)?,
            initial_stock,
        };
        self.store.create(&new).await
    }

    async fn update(&self, req: pb::UpdateProductRequest) -> Result<Product> {
        let id = domain::parse_id("id", &req.id)?;
        let text = |field, value: &Option<String>, min, max| {
            value
                .as_deref()
                .map(|v| domain::text(field, v, min, max))
                .transpose()
        };
        let patch = ProductPatch {
            sku: req.sku.as_deref().map(Sku::parse).transpose()?,
            name: text("name", &req.name, 1, 200)?,
            description: text("description", &req.description, 0, 5000)?,
            category: text("category", &req.category, 1, 64)?,
            image_url: req
                .image_url
                .as_deref()
                .map(domain::image_url)
                .transpose()?,
            unit_price_minor: req.unit_price_minor.map(domain::unit_price).transpose()?,
            currency: req.currency.as_deref().map(Currency::parse).transpose()?,
        };
        self.store.update(id, &patch).await
    }

    async fn adjust_stock(&self, req: pb::AdjustStockRequest) -> Result<Product> {
        let id = domain::parse_id("id", &req.id)?;
        let delta = domain::stock_delta(req.delta)?;
        let product = self.store.adjust_stock(id, delta).await?;
        tracing::info!(product_id = %id, sku = %product.sku, delta, available = product.available, "stock adjusted");
        Ok(product)
    }

    async fn reserve(&self, req: pb::ReserveStockRequest) -> Result<Reservation> {
        let id = domain::parse_id("reservation_id", &req.reservation_id)?;
        let ttl = domain::reservation_ttl(req.ttl_seconds, self.default_ttl)?;
        let mut lines = Vec::with_capacity(req.lines.len());
        for line in &req.lines {
            lines.push((
                domain::parse_id("lines.product_id", &line.product_id)?,
                line.quantity,
            ));
        }
        let request = ReserveRequest::new(id, lines, ttl)?.committing(req.commit);
        self.store.reserve(&request).await
    }
}

#[tonic::async_trait]
impl ProductService for ProductApi {
    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let id = domain::parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(to_pb(self.store.get(id).await?)))
    }

    async fn batch_get_products(
        &self,
        request: Request<pb::BatchGetProductsRequest>,
    ) -> Result<Response<pb::BatchGetProductsResponse>, Status> {
        Ok(Response::new(self.batch_get(request.into_inner()).await?))
    }

    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        Ok(Response::new(to_pb(
            self.create(request.into_inner()).await?,
        )))
    }

    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        Ok(Response::new(to_pb(
            self.update(request.into_inner()).await?,
        )))
    }

    async fn adjust_stock(
        &self,
        request: Request<pb::AdjustStockRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        Ok(Response::new(to_pb(
            self.adjust_stock(request.into_inner()).await?,
        )))
    }

    async fn reserve_stock(
        &self,
        request: Request<pb::ReserveStockRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        Ok(Response::new(reservation_to_pb(
            self.reserve(request.into_inner()).await?,
        )))
    }

    async fn get_reservation(
        &self,
        request: Request<pb::GetReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        let id = domain::parse_id("reservation_id", &request.get_ref().reservation_id)?;
        Ok(Response::new(reservation_to_pb(
            self.store.reservation(id).await?,
        )))
    }

    async fn commit_reservation(
        &self,
        request: Request<pb::CommitReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        let id = domain::parse_id("reservation_id", &request.get_ref().reservation_id)?;
        Ok(Response::new(reservation_to_pb(
            self.store.commit(id).await?,
        )))
    }

    async fn release_reservation(
        &self,
        request: Request<pb::ReleaseReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        let id = domain::parse_id("reservation_id", &request.get_ref().reservation_id)?;
        Ok(Response::new(reservation_to_pb(
            self.store.release(id).await?,
        )))
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

fn to_pb(p: Product) -> pb::Product {
    pb::Product {
        id: p.id.to_string(),
        sku: p.sku,
        name: p.name,
        description: p.description,
        category: p.category,
        image_url: p.image_url,
        unit_price_minor: p.unit_price_minor,
        currency: p.currency,
        available: p.available,
        created_at: timestamp(p.created_at),
        updated_at: timestamp(p.updated_at),
    }
}

fn reservation_to_pb(r: Reservation) -> pb::Reservation {
    use crate::domain::ReservationStatus as S;
    let status = match r.status {
        S::Held => pb::ReservationStatus::Held,
        S::Committed => pb::ReservationStatus::Committed,
        S::Released => pb::ReservationStatus::Released,
        S::Expired => pb::ReservationStatus::Expired,
    };
    pb::Reservation {
        reservation_id: r.id.to_string(),
        status: status.into(),
        lines: r
            .lines
            .into_iter()
            .map(|l| pb::ReservedLine {
                product_id: l.product_id.to_string(),
                sku: l.sku,
                name: l.name,
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                currency: l.currency,
            })
            .collect(),
        expires_at: timestamp(r.expires_at),
        created_at: timestamp(r.created_at),
    }
}
