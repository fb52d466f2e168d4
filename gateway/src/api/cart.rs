//! `/cart`: the caller's cart, priced now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use shop_proto::cart as pb;
use utoipa::ToSchema;

use super::{Body, path_id};
use crate::auth::User;
use crate::backends::CallContext;
use crate::error::{ApiError, ApiResult};
use crate::resources::Cart;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/cart", get(get_cart).delete(clear_cart))
        .route("/cart/items", post(add_item))
        .route(
            "/cart/items/{product_id}",
            put(set_item).delete(remove_item),
        )
}

/// The caller's cart.
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart",
    responses((status = 200, body = Cart), (status = 401), (status = 503)), security(("bearer" = [])))]
pub(crate) async fn get_cart(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
) -> ApiResult<Json<Cart>> {
    let request = pb::GetCartRequest { user_id: user.sub };
    let cart = state.backends.cart(&ctx).get_cart(request).await?;
    Ok(Json(cart.into_inner().into()))
}

/// Units of a product to add.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AddItem {
    product_id: String,
    /// 1..=99; the line may hold at most 99.
    quantity: i64,
}

/// Adds units to a line of the caller's cart.
#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart", request_body = AddItem,
    responses((status = 200, body = Cart), (status = 404, description = "unknown product"), (status = 422, description = "bad quantity, over 99, or a 51st line")),
    security(("bearer" = [])))]
pub(crate) async fn add_item(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
    Body(item): Body<AddItem>,
) -> ApiResult<Json<Cart>> {
    // Checked here, at the edge, so a malformed id never travels further.
    let product_id = shop_runtime::server::validate::uuid("product_id", &item.product_id)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let request = pb::AddItemRequest {
        user_id: user.sub,
        product_id: product_id.to_string(),
        quantity: item.quantity,
    };
    let cart = state
        .backends
        .cart(&ctx)
        .add_item(request)
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?;
    Ok(Json(cart.into_inner().into()))
}

/// A line's new quantity.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SetQuantity {
    /// 0..=99; 0 removes the line.
    quantity: i64,
}

/// Sets a line's quantity; 0 removes it.
#[utoipa::path(put, path = "/api/v1/cart/items/{product_id}", tag = "cart", request_body = SetQuantity,
    responses((status = 200, body = Cart), (status = 400), (status = 404), (status = 422)), security(("bearer" = [])))]
pub(crate) async fn set_item(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
    Path(product_id): Path<String>,
    Body(set): Body<SetQuantity>,
) -> ApiResult<Json<Cart>> {
    let product_id = path_id(&product_id)?;
    let request = pb::SetItemQuantityRequest {
        user_id: user.sub,
        product_id: product_id.to_string(),
        quantity: set.quantity,
    };
    let cart = state
        .backends
        .cart(&ctx)
        .set_item_quantity(request)
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?;
    Ok(Json(cart.into_inner().into()))
}

/// Removes a line.
#[utoipa::path(delete, path = "/api/v1/cart/items/{product_id}", tag = "cart",
    responses((status = 200, body = Cart), (status = 400)), security(("bearer" = [])))]
pub(crate) async fn remove_item(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
    Path(product_id): Path<String>,
) -> ApiResult<Json<Cart>> {
    let product_id = path_id(&product_id)?;
    let request = pb::RemoveItemRequest {
        user_id: user.sub,
        product_id: product_id.to_string(),
    };
    let cart = state.backends.cart(&ctx).remove_item(request).await?;
    Ok(Json(cart.into_inner().into()))
}

/// Empties the cart.
#[utoipa::path(delete, path = "/api/v1/cart", tag = "cart", responses((status = 204)), security(("bearer" = [])))]
pub(crate) async fn clear_cart(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
) -> ApiResult<StatusCode> {
    let request = pb::ClearCartRequest { user_id: user.sub };
    state.backends.cart(&ctx).clear_cart(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
