//! The cart page, its forms, and checkout. A refused change or checkout
//! comes back to the cart page with a notice code in its URL, so the page
//! only ever shows the shop's own words.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;
use shop_proto::cart as cart_pb;
use shop_proto::order as order_pb;
use tonic_types::StatusExt as _;
use uuid::Uuid;

use super::{PageResult, layout, money};
use crate::auth::{Claims, cookie};
use crate::backends::CallContext;
use crate::error::ApiError;
use crate::resources::Cart;
use crate::state::AppState;
use crate::storefront::session::{CHECKOUT_KEY_TTL, check_csrf, csrf_token, set_cookie};

/// Why the cart page was shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CartNotice {
    /// A quantity outside 1..=99 per line.
    Quantity,
    /// A change the cart refused for another reason (e.g. over 50 lines).
    Refused,
    /// Checkout found the cart empty.
    Empty,
    /// Checkout found too little stock.
    Stock,
    /// Checkout refused for another reason (e.g. prices in two currencies).
    Checkout,
}

impl CartNotice {
    fn code(self) -> &'static str {
        match self {
            Self::Quantity => "quantity",
            Self::Refused => "refused",
            Self::Empty => "empty",
            Self::Stock => "stock",
            Self::Checkout => "checkout",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Quantity => "Quantities are 1 to 99 per product.",
            Self::Refused => {
                "That change was refused: a cart holds at most 50 different products of one currency."
            }
            Self::Empty => "Checkout failed: your cart is empty.",
            Self::Stock => {
                "Checkout failed: some products do not have enough stock left. Lower the quantities and try again."
            }
            Self::Checkout => {
                "Checkout failed: your cart cannot be ordered as it is. Review it and try again."
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CartQuery {
    /// A code; anything else is ignored.
    #[serde(default, deserialize_with = "lenient_notice")]
    error: Option<CartNotice>,
}

/// An unknown notice code shows nothing rather than an error page.
fn lenient_notice<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<CartNotice>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    Ok(raw.and_then(|code| serde_json::from_value(serde_json::Value::String(code)).ok()))
}

pub(crate) async fn cart_page(
    State(state): State<AppState>,
    ctx: CallContext,
    Extension(claims): Extension<Claims>,
    Query(query): Query<CartQuery>,
    headers: HeaderMap,
) -> PageResult {
    let request = cart_pb::GetCartRequest {
        user_id: claims.sub.clone(),
    };
    let cart: Cart = state
        .backends
        .cart(&ctx)
        .get_cart(request)
        .await?
        .into_inner()
        .into();
    let csrf = csrf_token(&state, &claims);
    // One key per checkout attempt, kept until that checkout settles: a
    // retried submit (after a 503, a reload) replays the same order instead
    // of placing another.
    let kept = cookie(&headers, state.auth.cookies.checkout).and_then(|k| Uuid::parse_str(&k).ok());
    let key = kept.unwrap_or_else(Uuid::new_v4);
    let mut page = layout(
        "Cart",
        html! {
            h1 { "Your cart" }
            @if let Some(notice) = query.error { p.notice.error role="alert" { (notice.message()) } }
            @if cart.items.is_empty() {
                p.notice { "Your cart is empty. " a href="/" { "Browse the catalog" } }
            } @else {
                table.lines {
                    thead { tr { th { "Product" } th { "Price" } th { "Quantity" } th { "Total" } th {} } }
                    tbody {
                        @for line in &cart.items {
                            tr data-sku=(line.sku) {
                                td { a href={ "/products/" (line.product_id) } { (line.name) } }
                                td {
                                    (money(line.unit_price_cents, &cart.currency))
                                    @if let Some(previous) = line.previous_unit_price_cents {
                                        " " span.was { "was " (money(previous, &cart.currency)) }
                                    }
                                }
                                td {
                                    form.inline method="post" action="/cart/update" {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="product_id" value=(line.product_id);
                                        input type="number" name="quantity" value=(line.quantity) min="0" max="99" aria-label="Quantity";
                                        button type="submit" { "Update" }
                                    }
                                }
                                td.total { (money(line.line_total_cents, &cart.currency)) }
                                td {
                                    form.inline method="post" action="/cart/update" {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="product_id" value=(line.product_id);
                                        input type="hidden" name="quantity" value="0";
                                        button.link type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
                p.subtotal { "Subtotal: " strong #subtotal { (money(cart.subtotal_cents, &cart.currency)) } }
                form method="post" action="/checkout" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="idempotency_key" value=(key);
                    button.primary #checkout type="submit" { "Check out" }
                }
            }
        },
    )
    .into_response();
    if kept.is_none() {
        set_cookie(
            &mut page,
            &state,
            state.auth.cookies.checkout,
            key.to_string(),
            CHECKOUT_KEY_TTL,
        );
    }
    Ok(page)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LineForm {
    csrf: String,
    product_id: String,
    quantity: i64,
}

pub(crate) async fn cart_add(
    State(state): State<AppState>,
    ctx: CallContext,
    Extension(claims): Extension<Claims>,
    Form(form): Form<LineForm>,
) -> PageResult {
    check_csrf(&state, &claims, &form.csrf)?;
    let request = cart_pb::AddItemRequest {
        user_id: claims.sub,
        product_id: form.product_id,
        quantity: form.quantity,
    };
    back_to_cart(state.backends.cart(&ctx).add_item(request).await)
}

pub(crate) async fn cart_update(
    State(state): State<AppState>,
    ctx: CallContext,
    Extension(claims): Extension<Claims>,
    Form(form): Form<LineForm>,
) -> PageResult {
    check_csrf(&state, &claims, &form.csrf)?;
    let request = cart_pb::SetItemQuantityRequest {
        user_id: claims.sub,
        product_id: form.product_id,
        quantity: form.quantity,
    };
    back_to_cart(state.backends.cart(&ctx).set_item_quantity(request).await)
}

/// Back to the cart page: with the message of a refused quantity, or on to
/// an error page for anything else.
fn back_to_cart<T>(result: Result<T, tonic::Status>) -> PageResult {
    match result {
        Ok(_) => Ok(Redirect::to("/cart").into_response()),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            let quantity = status
                .get_details_bad_request()
                .is_some_and(|b| b.field_violations.iter().any(|v| v.field == "quantity"));
            Ok(redirect_with(if quantity {
                CartNotice::Quantity
            } else {
                CartNotice::Refused
            }))
        }
        Err(status) if status.code() == tonic::Code::FailedPrecondition => {
            Ok(redirect_with(CartNotice::Refused))
        }
        Err(status) => Err(status.into()),
    }
}

fn redirect_with(notice: CartNotice) -> Response {
    Redirect::to(&format!("/cart?error={}", notice.code())).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckoutForm {
    csrf: String,
    idempotency_key: String,
}

pub(crate) async fn checkout(
    State(state): State<AppState>,
    ctx: CallContext,
    Extension(claims): Extension<Claims>,
    Form(form): Form<CheckoutForm>,
) -> PageResult {
    check_csrf(&state, &claims, &form.csrf)?;
    let request = order_pb::PlaceOrderRequest {
        user_id: claims.sub,
        idempotency_key: form.idempotency_key,
    };
    let result = state.backends.order(&ctx).place_order(request).await;
    // A settled checkout (placed, or definitely refused) frees its key; one
    // still unsettled (unavailable, in progress) keeps it for the retry.
    let mut response = match result {
        Ok(order) => Redirect::to(&format!("/orders/{}", order.into_inner().id)).into_response(),
        Err(status) if status.code() == tonic::Code::FailedPrecondition => {
            let error = ApiError::from_grpc(status);
            redirect_with(match error.kind {
                "/problems/empty-cart" => CartNotice::Empty,
                "/problems/insufficient-stock" => CartNotice::Stock,
                _ => CartNotice::Checkout,
            })
        }
        Err(status) => return Err(status.into()),
    };
    set_cookie(
        &mut response,
        &state,
        state.auth.cookies.checkout,
        String::new(),
        std::time::Duration::ZERO,
    );
    Ok(response)
}
