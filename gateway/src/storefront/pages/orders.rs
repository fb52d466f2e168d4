//! The order history, one order's page, and its cancel form.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;
use shop_proto::order as pb;
use uuid::Uuid;

use super::{PageError, PageResult, layout, money};
use crate::auth::Claims;
use crate::backends::CallContext;
use crate::error::ApiError;
use crate::resources::{Order, Shipment};
use crate::state::AppState;
use crate::storefront::session::{check_csrf, csrf_token};

/// Orders the history shows.
const HISTORY_SIZE: i32 = 50;

pub(crate) async fn orders_page(
    State(state): State<AppState>,
    ctx: CallContext,
    Extension(claims): Extension<Claims>,
) -> PageResult {
    let request = pb::ListOrdersRequest {
        user_id: claims.sub,
        page_size: HISTORY_SIZE,
        page_token: String::new(),
    };
    let orders: Vec<Order> = state
        .backends
        .order(&ctx)
        .list_orders(request)
        .await?
        .into_inner()
        .orders
        .into_iter()
        .map(Order::from)
        .collect();
    Ok(layout(
        "Orders",
        html! {
            h1 { "Your orders" }
            @if orders.is_empty() { p.notice { "No orders yet." } }
            table.lines #orders {
                @if !orders.is_empty() {
                    thead { tr { th { "Order" } th { "Placed" } th { "Status" } th { "Total" } } }
                }
                tbody {
                    @for o in &orders {
                        tr {
                            td { a href={ "/orders/" (o.id) } { (o.number) } }
                            td { (o.created_at.get(..16).unwrap_or(&o.created_at).replace('T', " ")) }
                            td { span class={ "status " (o.status.to_lowercase()) } { (o.status) } }
                            td { (money(o.total_cents, &o.currency)) }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

/// An order id from the path; a malformed one is no such order.
fn order_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError(ApiError::not_found("no such order")))
}

pub(crate) async fn order_page(
    State(state): State<AppState>,
    ctx: CallContext,
    Extension(claims): Extension<Claims>,
    Path(id): Path<String>,
) -> PageResult {
    let id = order_id(&id)?;
    let request = pb::GetOrderRequest {
        user_id: claims.sub.clone(),
        order_id: id.to_string(),
    };
    let order: Order = state
        .backends
        .order(&ctx)
        .get_order(request)
        .await?
        .into_inner()
        .into();
    // The shipment, once fulfillment-service made it; none is no error.
    let shipment: Option<Shipment> = state
        .backends
        .fulfillment(&ctx)
        .get_shipment(shop_proto::fulfillment::GetShipmentRequest {
            user_id: claims.sub.clone(),
            order_id: id.to_string(),
        })
        .await
        .ok()
        .map(|s| s.into_inner().into());
    let csrf = csrf_token(&state, &claims);
    Ok(layout(
        &order.number,
        html! {
            h1 { "Order " (order.number) }
            p { span class={ "status " (order.status.to_lowercase()) } #status { (order.status) } }
            @if let Some(shipment) = &shipment {
                p #shipment {
                    "Shipment: " span class={ "status " (shipment.status.to_lowercase()) } { (shipment.status) }
                    " · tracking number " code { (shipment.tracking_number) }
                }
            }
            table.lines {
                thead { tr { th { "Product" } th { "Price" } th { "Quantity" } th { "Total" } } }
                tbody {
                    @for line in &order.items {
                        tr {
                            td { (line.name) }
                            td { (money(line.unit_price_cents, &order.currency)) }
                            td { (line.quantity) }
                            td { (money(line.line_total_cents, &order.currency)) }
                        }
                    }
                }
            }
            p.subtotal { "Total: " strong { (money(order.total_cents, &order.currency)) } }
            @if order.status == "CONFIRMED" && order.fulfillment_status.is_none() {
                form method="post" action={ "/orders/" (order.id) "/cancel" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { "Cancel order" }
                }
            }
            p { a href="/orders" { "All orders" } }
        },
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

pub(crate) async fn order_cancel(
    State(state): State<AppState>,
    ctx: CallContext,
    Extension(claims): Extension<Claims>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&state, &claims, &form.csrf)?;
    let id = order_id(&id)?;
    let request = pb::CancelOrderRequest {
        user_id: claims.sub,
        order_id: id.to_string(),
    };
    state.backends.order(&ctx).cancel_order(request).await?;
    Ok(Redirect::to(&format!("/orders/{id}")).into_response())
}
