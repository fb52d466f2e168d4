//! The REST API under `/api/v1`, as the contract's route table fixes it:
//! one file per resource, each with its own `router()`, composed here.
//!
//! Each handler checks what the gateway can check itself (auth, UUIDs in
//! paths, the Idempotency-Key header), calls one backend through
//! [`Backends`](crate::backends::Backends) with the request's
//! [`CallContext`](crate::backends::CallContext), and maps the answer: JSON
//! on success, problem+json through [`ApiError`] otherwise.

pub(crate) mod auth;
pub(crate) mod cart;
pub(crate) mod orders;
pub(crate) mod products;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub(crate) use cart::Cart;
pub(crate) use orders::Order;
pub(crate) use products::Product;

/// The routes of the REST API.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(products::router())
        .merge(cart::router())
        .merge(orders::router())
}

/// JSON body whose rejections are problem documents.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct Body<T>(pub(crate) T);

/// Query string whose rejections are problem documents.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct Params<T>(pub(crate) T);

/// A UUID path segment; a malformed one is a 400.
fn path_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(format!("malformed UUID in path: {raw:?}")))
}

/// A listing's `page_size`, when given, is 1..=100.
fn check_page_size(page_size: Option<i32>) -> ApiResult<()> {
    match page_size {
        Some(size) if !(1..=100).contains(&size) => Err(ApiError::bad_request(format!(
            "page_size must be between 1 and 100, got {size}"
        ))),
        _ => Ok(()),
    }
}

/// One page of a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    /// Pass as `page_token` for the next page; null on the last page.
    pub(crate) next_page_token: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items`; a backend's empty token means the last page.
    fn new(items: impl IntoIterator<Item = impl Into<T>>, next_page_token: String) -> Self {
        Self {
            items: items.into_iter().map(Into::into).collect(),
            next_page_token: (!next_page_token.is_empty()).then_some(next_page_token),
        }
    }
}

/// A line of a cart or an order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Line {
    pub(crate) product_id: String,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) quantity: i64,
    pub(crate) unit_price_cents: i64,
    pub(crate) line_total_cents: i64,
}
