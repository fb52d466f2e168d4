//! The storefront: server-rendered HTML that works without JavaScript.
//!
//! A guest session is created on the first visit and kept in an HttpOnly,
//! SameSite=Lax cookie holding the same JWT the API takes as a bearer token.
//! Every form that changes state carries a CSRF token: an HMAC of the
//! session's user id, checked on submit. Pages call the same backends as
//! the API; images are SVGs drawn here, so the shop works offline.

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use sha2::Sha256;
use shop_proto::cart as cart_pb;
use shop_proto::order as order_pb;
use shop_proto::product as product_pb;
use tonic_types::StatusExt as _;
use uuid::Uuid;

use crate::AppState;
use crate::api::{Cart, Order, Product};
use crate::auth::{Claims, Role};
use crate::error::ApiError;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "shop_session";

/// The storefront's routes; they need the [`session`] middleware.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/products/{id}", get(product_page))
        .route("/cart", get(cart_page))
        .route("/cart/add", post(cart_add))
        .route("/cart/update", post(cart_update))
        .route("/checkout", post(checkout))
        .route("/orders", get(orders_page))
        .route("/orders/{id}", get(order_page))
        .route("/orders/{id}/cancel", post(order_cancel))
}

/// Static assets and images, outside any session.
pub fn assets() -> Router<AppState> {
    Router::new()
        .route("/static/style.css", get(stylesheet))
        .route("/images/products/{file}", get(product_image))
}

/// Name of the cookie keeping the pending checkout's idempotency key.
pub const CHECKOUT_COOKIE: &str = "shop_checkout";

/// The session token in the request's cookie, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// Finds the visitor's session or starts a guest one, and hands its claims
/// to the page.
pub async fn session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let existing = session_cookie(request.headers()).and_then(|t| state.auth.verify(&t).ok());
    let (claims, new_token) = match existing {
        Some(claims) => (claims, None),
        None => {
            let user_id = Uuid::new_v4().to_string();
            let (token, _) = state.auth.issue(&user_id, Role::Shopper);
            let claims = state.auth.verify(&token).expect("a fresh token verifies");
            (claims, Some(token))
        }
    };
    request.extensions_mut().insert(claims);
    let mut response = next.run(request).await;
    if let Some(token) = new_token {
        set_cookie(
            &mut response,
            &state,
            SESSION_COOKIE,
            &token,
            crate::auth::TOKEN_TTL.as_secs(),
        );
    }
    response
}

/// Appends an HttpOnly, SameSite=Lax cookie, `Secure` whenever the gateway
/// serves HTTPS; a `max_age` of 0 deletes it.
fn set_cookie(response: &mut Response, state: &AppState, name: &str, value: &str, max_age: u64) {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The value of cookie `name` in a request, if any.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

/// Content-Security-Policy of every page: nothing but this shop's own
/// stylesheet, images and forms; no script; never inside a frame.
pub const PAGE_CSP: &str = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'none'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the pages' security headers to every storefront answer.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The CSRF token of a session.
fn csrf_token(state: &AppState, claims: &Claims) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(state.csrf_key.as_bytes()).expect("any key length");
    mac.update(b"csrf\0");
    mac.update(claims.sub.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn check_csrf(state: &AppState, claims: &Claims, submitted: &str) -> Result<(), PageError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(state.csrf_key.as_bytes()).expect("any key length");
    mac.update(b"csrf\0");
    mac.update(claims.sub.as_bytes());
    let submitted = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(submitted)
        .unwrap_or_default();
    mac.verify_slice(&submitted).map_err(|_| {
        PageError(ApiError::forbidden(
            "the form expired or did not come from this shop; reload the page and try again",
        ))
    })
}

/// An error shown as an HTML page with the right status.
#[derive(Debug)]
pub struct PageError(ApiError);

impl From<tonic::Status> for PageError {
    fn from(status: tonic::Status) -> Self {
        Self(ApiError::from_grpc(status))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status;
        let title = status.canonical_reason().unwrap_or("Error");
        let page = layout(
            title,
            html! {
                h1 { (title) }
                p.notice.error { (self.0.detail) }
                p { a href="/" { "Back to the shop" } }
            },
        );
        (status, page).into_response()
    }
}

type PageResult = Result<Response, PageError>;

/// An amount in minor units as people read it: the currency's own number
/// of decimals (ISO 4217: none for yen, three for dinars, two otherwise).
fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let symbol = match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        _ => "",
    };
    let decimals: u32 = match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "PYG" | "UGX" | "XAF" | "XOF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    };
    let minor = minor.unsigned_abs();
    let unit = 10_u64.pow(decimals);
    let amount = if decimals == 0 {
        format!("{sign}{symbol}{minor}")
    } else {
        let width = decimals as usize;
        format!("{sign}{symbol}{}.{:0width$}", minor / unit, minor % unit)
    };
    if symbol.is_empty() {
        format!("{amount} {currency}")
    } else {
        amount
    }
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Shop" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header.top {
                    a.brand href="/" { "Shop" }
                    nav {
                        a href="/" { "Catalog" }
                        a href="/cart" { "Cart" }
                        a href="/orders" { "Orders" }
                        a href="/docs" { "API" }
                    }
                }
                main { (body) }
                footer { "Shop — a microservices reference application" }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct HomeQuery {
    category: Option<String>,
    q: Option<String>,
    page_token: Option<String>,
}

/// Categories of the demo catalog, for the filter bar.
const CATEGORIES: &[&str] = &["books", "games", "garden", "kitchen"];

async fn home(State(state): State<AppState>, Query(query): Query<HomeQuery>) -> PageResult {
    let category = query.category.clone().unwrap_or_default();
    let q = query.q.clone().unwrap_or_default();
    let request = product_pb::ListProductsRequest {
        category: category.clone(),
        query: q.clone(),
        page_size: 12,
        page_token: query.page_token.clone().unwrap_or_default(),
    };
    let page = state
        .backends
        .product
        .clone()
        .list_products(state.backends.request(request, &[]))
        .await?
        .into_inner();
    let next = (!page.next_page_token.is_empty()).then(|| {
        let mut url = format!("/?page_token={}", urlencode(&page.next_page_token));
        if !category.is_empty() {
            url.push_str(&format!("&category={}", urlencode(&category)));
        }
        if !q.is_empty() {
            url.push_str(&format!("&q={}", urlencode(&q)));
        }
        url
    });
    let products: Vec<Product> = page.products.into_iter().map(Product::from).collect();
    Ok(layout(
        "Catalog",
        html! {
            form.search action="/" method="get" {
                @if !category.is_empty() { input type="hidden" name="category" value=(category); }
                input type="search" name="q" value=(q) placeholder="Search products" aria-label="Search products";
                button type="submit" { "Search" }
            }
            nav.categories aria-label="Categories" {
                a href="/" class=[category.is_empty().then_some("active")] { "All" }
                @for c in CATEGORIES {
                    a href={ "/?category=" (c) } class=[(category == *c).then_some("active")] data-category=(c) { (c) }
                }
            }
            @if products.is_empty() { p.notice { "No products match." } }
            ul.grid {
                @for p in &products {
                    li.card {
                        a href={ "/products/" (p.id) } {
                            img src=(p.image_url) alt=(p.name) width="240" height="180";
                            h2 { (p.name) }
                        }
                        p.price { (money(p.unit_price_cents, &p.currency)) }
                        p.stock { @if p.available > 0 { (p.available) " in stock" } @else { "Sold out" } }
                    }
                }
            }
            @if let Some(next) = next { p.more { a href=(next) rel="next" { "More products →" } } }
        },
    )
    .into_response())
}

async fn product_page(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    Path(id): Path<String>,
) -> PageResult {
    let id = Uuid::parse_str(&id).map_err(|_| PageError(ApiError::not_found("no such product")))?;
    let product: Product = state
        .backends
        .product
        .clone()
        .get_product(
            state
                .backends
                .request(product_pb::GetProductRequest { id: id.to_string() }, &[]),
        )
        .await?
        .into_inner()
        .into();
    let csrf = csrf_token(&state, &claims);
    Ok(layout(
        &product.name,
        html! {
            article.product {
                img src=(product.image_url) alt=(product.name) width="480" height="360";
                div {
                    h1 { (product.name) }
                    p.price { (money(product.unit_price_cents, &product.currency)) }
                    p { (product.description) }
                    p.stock { @if product.available > 0 { (product.available) " in stock" } @else { "Sold out" } }
                    form method="post" action="/cart/add" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="product_id" value=(product.id);
                        label { "Quantity " input type="number" name="quantity" value="1" min="1" max="99"; }
                        button type="submit" disabled[product.available == 0] { "Add to cart" }
                    }
                }
            }
        },
    )
    .into_response())
}

/// Why the cart page was shown again: a code in its URL, so the page only
/// ever shows the shop's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CartNotice {
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
struct CartQuery {
    /// A code; anything else is ignored.
    #[serde(default, deserialize_with = "lenient_notice")]
    error: Option<CartNotice>,
}

/// An unknown notice code shows nothing rather than an error page.
fn lenient_notice<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<CartNotice>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    Ok(raw.and_then(|code| serde_json::from_value(serde_json::Value::String(code)).ok()))
}

async fn cart_page(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    Query(query): Query<CartQuery>,
    headers: HeaderMap,
) -> PageResult {
    let cart: Cart = state
        .backends
        .cart
        .clone()
        .get_cart(state.backends.request(
            cart_pb::GetCartRequest {
                user_id: claims.sub.clone(),
            },
            &[],
        ))
        .await?
        .into_inner()
        .into();
    let csrf = csrf_token(&state, &claims);
    // One key per checkout attempt, kept until that checkout settles: a
    // retried submit (after a 503, a reload) replays the same order instead
    // of placing another.
    let kept = cookie(&headers, CHECKOUT_COOKIE).and_then(|k| Uuid::parse_str(&k).ok());
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
                                td { (money(line.unit_price_cents, &cart.currency)) }
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
            CHECKOUT_COOKIE,
            &key.to_string(),
            24 * 3600,
        );
    }
    Ok(page)
}

#[derive(Debug, Deserialize)]
struct LineForm {
    csrf: String,
    product_id: String,
    quantity: i64,
}

async fn cart_add(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    Form(form): Form<LineForm>,
) -> PageResult {
    check_csrf(&state, &claims, &form.csrf)?;
    let request = cart_pb::AddItemRequest {
        user_id: claims.sub,
        product_id: form.product_id,
        quantity: form.quantity,
    };
    let result = state
        .backends
        .cart
        .clone()
        .add_item(state.backends.request(request, &[]))
        .await;
    back_to_cart(result)
}

async fn cart_update(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    Form(form): Form<LineForm>,
) -> PageResult {
    check_csrf(&state, &claims, &form.csrf)?;
    let request = cart_pb::SetItemQuantityRequest {
        user_id: claims.sub,
        product_id: form.product_id,
        quantity: form.quantity,
    };
    let result = state
        .backends
        .cart
        .clone()
        .set_item_quantity(state.backends.request(request, &[]))
        .await;
    back_to_cart(result)
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
struct CheckoutForm {
    csrf: String,
    idempotency_key: String,
}

async fn checkout(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    Form(form): Form<CheckoutForm>,
) -> PageResult {
    check_csrf(&state, &claims, &form.csrf)?;
    let request = order_pb::PlaceOrderRequest {
        user_id: claims.sub,
        idempotency_key: form.idempotency_key,
    };
    let result = state
        .backends
        .order
        .clone()
        .place_order(state.backends.request(request, &[]))
        .await;
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
    set_cookie(&mut response, &state, CHECKOUT_COOKIE, "", 0);
    Ok(response)
}

async fn orders_page(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
) -> PageResult {
    let request = order_pb::ListOrdersRequest {
        user_id: claims.sub,
        page_size: 50,
        page_token: String::new(),
    };
    let orders: Vec<Order> = state
        .backends
        .order
        .clone()
        .list_orders(state.backends.request(request, &[]))
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

async fn order_page(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    Path(id): Path<String>,
) -> PageResult {
    let id = Uuid::parse_str(&id).map_err(|_| PageError(ApiError::not_found("no such order")))?;
    let request = order_pb::GetOrderRequest {
        user_id: claims.sub.clone(),
        order_id: id.to_string(),
    };
    let order: Order = state
        .backends
        .order
        .clone()
        .get_order(state.backends.request(request, &[]))
        .await?
        .into_inner()
        .into();
    let csrf = csrf_token(&state, &claims);
    Ok(layout(
        &order.number,
        html! {
            h1 { "Order " (order.number) }
            p { span class={ "status " (order.status.to_lowercase()) } #status { (order.status) } }
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
            @if order.status == "CONFIRMED" {
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
struct CsrfForm {
    csrf: String,
}

async fn order_cancel(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&state, &claims, &form.csrf)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError(ApiError::not_found("no such order")))?;
    let request = order_pb::CancelOrderRequest {
        user_id: claims.sub,
        order_id: id.to_string(),
    };
    state
        .backends
        .order
        .clone()
        .cancel_order(state.backends.request(request, &[]))
        .await?;
    Ok(Redirect::to(&format!("/orders/{id}")).into_response())
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/style.css"),
    )
}

/// A product picture drawn from its file name: a colour from the name's
/// hash and the SKU as a label. No network, no binary assets.
async fn product_image(Path(file): Path<String>) -> Response {
    let Some(stem) = file.strip_suffix(".svg") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if stem.is_empty()
        || stem.len() > 64
        || !stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let hash = stem.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    let hue = hash % 360;
    let label = stem.to_ascii_uppercase();
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 240 180" role="img" aria-label="{label}">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
<stop offset="0" stop-color="hsl({hue},70%,82%)"/><stop offset="1" stop-color="hsl({h2},60%,62%)"/></linearGradient></defs>
<rect width="240" height="180" fill="url(#g)"/>
<circle cx="{cx}" cy="80" r="42" fill="hsl({hue},55%,45%)" opacity=".35"/>
<rect x="{rx}" y="60" width="70" height="70" rx="10" fill="#fff" opacity=".55"/>
<text x="120" y="165" font-family="sans-serif" font-size="14" text-anchor="middle" fill="#222">{label}</text>
</svg>"##,
        h2 = (hue + 40) % 360,
        cx = 70 + hash % 60,
        rx = 110 + (hash >> 8) % 50,
    );
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        svg,
    )
        .into_response()
}

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_minor_units() {
        assert_eq!(money(1250, "USD"), "$12.50");
        assert_eq!(money(5, "EUR"), "€0.05");
        assert_eq!(money(100, "JPY"), "¥100", "yen have no minor unit");
        assert_eq!(money(1500, "KWD"), "1.500 KWD");
        assert_eq!(money(-5, "CHF"), "-0.05 CHF");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; shop_session=tok; b=2"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("tok"));
    }

    #[test]
    fn urlencode_escapes_reserved_characters() {
        assert_eq!(urlencode("a b&c=d"), "a%20b%26c%3Dd");
    }
}
