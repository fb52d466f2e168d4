//! `/orders`: checkout, once per `Idempotency-Key`, and the caller's order
//! history.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use shop_proto::order as pb;
use utoipa::IntoParams;

use super::{Params, check_page_size, path_id};
use crate::auth::User;
use crate::backends::CallContext;
use crate::error::{ApiError, ApiResult};
use crate::resources::{Order, Page, Shipment};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", get(list_orders).post(place_order))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/cancel", post(cancel_order))
        .route("/orders/{id}/shipment", get(get_shipment))
}

/// Checks out the caller's cart, once per `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    params(("Idempotency-Key" = String, Header, description = "client-chosen key; a replay returns the original outcome")),
    responses(
        (status = 201, body = Order), (status = 200, body = Order, description = "replay of the key"),
        (status = 400, description = "no Idempotency-Key"),
        (status = 409, description = "insufficient stock (lists the items), or checkout in progress"),
        (status = 422, description = "empty cart")),
    security(("bearer" = [])))]
pub(crate) async fn place_order(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("the Idempotency-Key header is required"))?;
    let request = pb::PlaceOrderRequest {
        user_id: user.sub,
        idempotency_key: key.to_string(),
    };
    // A key the service refuses is a bad header: its INVALID_ARGUMENT is a 400.
    let response = state.backends.order(&ctx).place_order(request).await?;
    let replayed = response
        .metadata()
        .get(shop_proto::names::REPLAYED_HEADER)
        .is_some();
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(Order::from(response.into_inner()))))
}

/// Paging of the order history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OrderQuery {
    /// 1..=100, default 20.
    page_size: Option<i32>,
    /// `next_page_token` of the previous page.
    page_token: Option<String>,
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(OrderQuery),
    responses((status = 200, body = Page<Order>), (status = 400)), security(("bearer" = [])))]
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
    Params(query): Params<OrderQuery>,
) -> ApiResult<Json<Page<Order>>> {
    check_page_size(query.page_size)?;
    let request = pb::ListOrdersRequest {
        user_id: user.sub,
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let page = state
        .backends
        .order(&ctx)
        .list_orders(request)
        .await?
        .into_inner();
    Ok(Json(Page::new(page.orders, page.next_page_token)))
}

/// One of the caller's orders.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    responses((status = 200, body = Order), (status = 400), (status = 404, description = "missing or not the caller's")),
    security(("bearer" = [])))]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<Order>> {
    let id = path_id(&id)?;
    let request = pb::GetOrderRequest {
        user_id: user.sub,
        order_id: id.to_string(),
    };
    let order = state.backends.order(&ctx).get_order(request).await?;
    Ok(Json(order.into_inner().into()))
}

/// The shipment of one of the caller's orders: made by fulfillment-service
/// once it hears the order was confirmed (an event), so 404 until then.
#[utoipa::path(get, path = "/api/v1/orders/{id}/shipment", tag = "orders",
    responses((status = 200, body = Shipment), (status = 400), (status = 404, description = "no shipment yet, or not the caller's order")),
    security(("bearer" = [])))]
pub(crate) async fn get_shipment(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<Shipment>> {
    let id = path_id(&id)?;
    let request = shop_proto::fulfillment::GetShipmentRequest {
        user_id: user.sub,
        order_id: id.to_string(),
    };
    let shipment = state
        .backends
        .fulfillment(&ctx)
        .get_shipment(request)
        .await?;
    Ok(Json(shipment.into_inner().into()))
}

/// Cancels one of the caller's CONFIRMED orders.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders",
    responses((status = 200, body = Order), (status = 404), (status = 409, description = "not CONFIRMED")),
    security(("bearer" = [])))]
pub(crate) async fn cancel_order(
    State(state): State<AppState>,
    ctx: CallContext,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<Order>> {
    let id = path_id(&id)?;
    let request = pb::CancelOrderRequest {
        user_id: user.sub,
        order_id: id.to_string(),
    };
    let order = state.backends.order(&ctx).cancel_order(request).await?;
    Ok(Json(order.into_inner().into()))
}
