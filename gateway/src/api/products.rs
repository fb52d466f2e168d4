//! `/products`: the catalog; reading is open, changes are for the
//! administrator.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use shop_proto::product as pb;
use utoipa::{IntoParams, ToSchema};

use super::{Body, Params, check_page_size, path_id};
use crate::auth::Admin;
use crate::backends::CallContext;
use crate::error::{ApiError, ApiResult};
use crate::resources::{Page, Product};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/products", get(list_products).post(create_product))
        .route("/products/{id}", get(get_product).patch(update_product))
        .route("/products/{id}/stock", post(adjust_stock))
}

/// Filters and paging of the product listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProductQuery {
    /// Exact category.
    category: Option<String>,
    /// Case-insensitive text in name or description.
    q: Option<String>,
    /// 1..=100, default 20.
    page_size: Option<i32>,
    /// `next_page_token` of the previous page.
    page_token: Option<String>,
}

/// Lists products by name.
#[utoipa::path(get, path = "/api/v1/products", tag = "products", params(ProductQuery),
    responses((status = 200, body = Page<Product>), (status = 400, description = "bad page_size or page_token")))]
pub(crate) async fn list_products(
    State(state): State<AppState>,
    ctx: CallContext,
    Params(query): Params<ProductQuery>,
) -> ApiResult<Json<Page<Product>>> {
    check_page_size(query.page_size)?;
    let request = pb::ListProductsRequest {
        category: query.category.unwrap_or_default(),
        query: query.q.unwrap_or_default(),
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let page = state
        .backends
        .product(&ctx)
        .list_products(request)
        .await?
        .into_inner();
    Ok(Json(Page::new(page.products, page.next_page_token)))
}

/// One product.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    responses((status = 200, body = Product), (status = 400), (status = 404)))]
pub(crate) async fn get_product(
    State(state): State<AppState>,
    ctx: CallContext,
    Path(id): Path<String>,
) -> ApiResult<Json<Product>> {
    let id = path_id(&id)?;
    let request = pb::GetProductRequest { id: id.to_string() };
    let product = state.backends.product(&ctx).get_product(request).await?;
    Ok(Json(product.into_inner().into()))
}

/// A new product.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewProduct {
    sku: String,
    name: String,
    #[serde(default)]
    description: String,
    category: String,
    image_url: Option<String>,
    unit_price_cents: i64,
    currency: String,
    /// Initial stock, default 0.
    available: Option<i64>,
}

/// Adds a product (administrator).
#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = NewProduct,
    responses((status = 201, body = Product), (status = 401), (status = 403), (status = 409, description = "duplicate sku"), (status = 422)),
    security(("bearer" = [])))]
pub(crate) async fn create_product(
    State(state): State<AppState>,
    ctx: CallContext,
    _: Admin,
    Body(new): Body<NewProduct>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    let request = pb::CreateProductRequest {
        sku: new.sku,
        name: new.name,
        description: new.description,
        category: new.category,
        image_url: new.image_url.unwrap_or_default(),
        unit_price_minor: new.unit_price_cents,
        currency: new.currency,
        initial_stock: new.available.unwrap_or(0),
    };
    let product = state
        .backends
        .product(&ctx)
        .create_product(request)
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?;
    Ok((StatusCode::CREATED, Json(product.into_inner().into())))
}

/// Fields of a product to change; absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ProductPatch {
    sku: Option<String>,
    name: Option<String>,
    description: Option<String>,
    category: Option<String>,
    image_url: Option<String>,
    unit_price_cents: Option<i64>,
    currency: Option<String>,
}

/// Changes a product (administrator).
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", request_body = ProductPatch,
    responses((status = 200, body = Product), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(crate) async fn update_product(
    State(state): State<AppState>,
    ctx: CallContext,
    _: Admin,
    Path(id): Path<String>,
    Body(patch): Body<ProductPatch>,
) -> ApiResult<Json<Product>> {
    let id = path_id(&id)?;
    let request = pb::UpdateProductRequest {
        id: id.to_string(),
        sku: patch.sku,
        name: patch.name,
        description: patch.description,
        category: patch.category,
        image_url: patch.image_url,
        unit_price_minor: patch.unit_price_cents,
        currency: patch.currency,
    };
    let product = state
        .backends
        .product(&ctx)
        .update_product(request)
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?;
    Ok(Json(product.into_inner().into()))
}

/// A stock change.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct StockDelta {
    /// Positive to restock, negative to write off.
    delta: i64,
}

/// Restocks or writes off (administrator); never below zero.
#[utoipa::path(post, path = "/api/v1/products/{id}/stock", tag = "products", request_body = StockDelta,
    responses((status = 200, body = Product), (status = 404), (status = 409, description = "would go below zero"), (status = 422)),
    security(("bearer" = [])))]
pub(crate) async fn adjust_stock(
    State(state): State<AppState>,
    ctx: CallContext,
    _: Admin,
    Path(id): Path<String>,
    Body(change): Body<StockDelta>,
) -> ApiResult<Json<Product>> {
    let id = path_id(&id)?;
    let request = pb::AdjustStockRequest {
        id: id.to_string(),
        delta: change.delta,
    };
    let product = state
        .backends
        .product(&ctx)
        .adjust_stock(request)
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?;
    Ok(Json(product.into_inner().into()))
}
