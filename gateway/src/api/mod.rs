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
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::bad_request(format!(
            "malformed UUID in path: {}",
            shop_runtime::server::validate::echo(raw)
        ))
    })
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
