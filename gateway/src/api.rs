//! The REST API under `/api/v1`, as design.md's contract table fixes it.
//!
//! Each handler checks what the gateway can check itself (auth, UUIDs in
//! paths, the Idempotency-Key header), calls one backend with a deadline,
//! and maps the answer: JSON on success, problem+json through
//! [`ApiError`] otherwise.

use axum::extract::{FromRequest, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use shop_proto::cart as cart_pb;
use shop_proto::order as order_pb;
use shop_proto::product as product_pb;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Admin, Role, User};
use crate::error::{ApiError, ApiResult};

/// The routes of the REST API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/guest", post(guest))
        .route("/auth/login", post(login))
        .route("/products", get(list_products).post(create_product))
        .route("/products/{id}", get(get_product).patch(update_product))
        .route("/products/{id}/stock", post(adjust_stock))
        .route("/cart", get(get_cart).delete(clear_cart))
        .route("/cart/items", post(add_item))
        .route(
            "/cart/items/{product_id}",
            put(set_item).delete(remove_item),
        )
        .route("/orders", get(list_orders).post(place_order))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/cancel", post(cancel_order))
}

/// JSON body whose rejections are problem documents.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

/// Query string whose rejections are problem documents.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Params<T>(pub T);

/// What a backend call carries on from the HTTP request: the request id set
/// by the request-id middleware. (Trace context travels with the span.)
#[derive(Debug, Clone, Default)]
pub struct Forwarded {
    /// `x-request-id`.
    pub headers: Vec<(&'static str, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Forwarded {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let headers = ["x-request-id"]
            .into_iter()
            .filter_map(|name| {
                let value = parts.headers.get(name)?.to_str().ok()?;
                Some((name, value.to_string()))
            })
            .collect();
        Ok(Self { headers })
    }
}

impl Forwarded {
    fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }
}

/// A UUID path segment; a malformed one is a 400.
fn path_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(format!("malformed UUID in path: {raw:?}")))
}

// ---------------------------------------------------------------- schemas

/// A catalog product.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub image_url: String,
    /// Price of one unit in minor units (cents).
    pub unit_price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Units that can be bought now.
    pub available: i64,
}

impl From<product_pb::Product> for Product {
    fn from(p: product_pb::Product) -> Self {
        Self {
            id: p.id,
            sku: p.sku,
            name: p.name,
            description: p.description,
            category: p.category,
            image_url: p.image_url,
            unit_price_cents: p.unit_price_minor,
            currency: p.currency,
            available: p.available,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `page_token` for the next page; null on the last page.
    pub next_page_token: Option<String>,
}

fn next_token(token: String) -> Option<String> {
    (!token.is_empty()).then_some(token)
}

/// A line of a cart or an order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Line {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

/// A shopper's cart, priced now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    pub user_id: String,
    pub items: Vec<Line>,
    pub subtotal_cents: i64,
    /// Empty for an empty cart.
    pub currency: String,
}

impl From<cart_pb::Cart> for Cart {
    fn from(c: cart_pb::Cart) -> Self {
        Self {
            user_id: c.user_id,
            items: c
                .items
                .into_iter()
                .map(|i| Line {
                    product_id: i.product_id,
                    sku: i.sku,
                    name: i.name,
                    quantity: i.quantity,
                    unit_price_cents: i.unit_price_minor,
                    line_total_cents: i.line_total_minor,
                })
                .collect(),
            subtotal_cents: c.subtotal_minor,
            currency: c.currency,
        }
    }
}

/// An order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: String,
    /// Human order number, e.g. SO-000123.
    pub number: String,
    /// PENDING, CONFIRMED, REJECTED or CANCELLED.
    pub status: String,
    pub items: Vec<Line>,
    pub total_cents: i64,
    pub currency: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl From<order_pb::Order> for Order {
    fn from(o: order_pb::Order) -> Self {
        let status = o
            .status()
            .as_str_name()
            .trim_start_matches("ORDER_STATUS_")
            .to_string();
        let created_at = o
            .created_at
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        Self {
            id: o.id,
            number: o.number,
            status,
            items: o
                .items
                .into_iter()
                .map(|i| Line {
                    product_id: i.product_id,
                    sku: i.sku,
                    name: i.name,
                    quantity: i.quantity,
                    unit_price_cents: i.unit_price_minor,
                    line_total_cents: i.line_total_minor,
                })
                .collect(),
            total_cents: o.total_minor,
            currency: o.currency,
            created_at,
        }
    }
}

// ---------------------------------------------------------------- auth

/// A new guest shopper's token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GuestToken {
    pub token: String,
    pub user_id: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// Administrator credentials.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// A logged-in user's token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginToken {
    pub token: String,
    pub user_id: String,
    pub role: Role,
}

/// Creates a guest shopper.
#[utoipa::path(post, path = "/api/v1/auth/guest", tag = "auth",
    responses((status = 201, body = GuestToken)))]
pub async fn guest(State(state): State<AppState>) -> (StatusCode, Json<GuestToken>) {
    let user_id = Uuid::new_v4().to_string();
    let (token, expires) = state.auth.issue(&user_id, Role::Shopper);
    let body = GuestToken {
        token,
        user_id,
        expires_at: expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    (StatusCode::CREATED, Json(body))
}

/// Logs the administrator in.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = LoginToken), (status = 401, description = "bad credentials"),
        (status = 429, description = "too many attempts from this address")))]
pub async fn login(
    State(state): State<AppState>,
    ip: Option<Extension<crate::limits::ClientIp>>,
    Body(creds): Body<Credentials>,
) -> ApiResult<Json<LoginToken>> {
    let backoff = state.limits.logins().zip(ip.map(|Extension(ip)| ip.0));
    if let Some((backoff, ip)) = backoff {
        backoff.check(ip)?;
    }
    if !state.auth.is_admin(&creds.username, &creds.password) {
        if let Some((backoff, ip)) = backoff {
            backoff.failed(ip);
        }
        return Err(ApiError::unauthorized("bad username or password"));
    }
    if let Some((backoff, ip)) = backoff {
        backoff.succeeded(ip);
    }
    let (token, _) = state.auth.issue(crate::auth::ADMIN_USER_ID, Role::Admin);
    Ok(Json(LoginToken {
        token,
        user_id: crate::auth::ADMIN_USER_ID.into(),
        role: Role::Admin,
    }))
}

// ---------------------------------------------------------------- products

/// Filters and paging of the product listing.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ProductQuery {
    /// Exact category.
    pub category: Option<String>,
    /// Case-insensitive text in name or description.
    pub q: Option<String>,
    /// 1..=100, default 20.
    pub page_size: Option<i32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Lists products by name.
#[utoipa::path(get, path = "/api/v1/products", tag = "products", params(ProductQuery),
    responses((status = 200, body = Page<Product>), (status = 400, description = "bad page_size or page_token")))]
pub async fn list_products(
    State(state): State<AppState>,
    id: Forwarded,
    Params(query): Params<ProductQuery>,
) -> ApiResult<Json<Page<Product>>> {
    if let Some(size) = query.page_size
        && !(1..=100).contains(&size)
    {
        return Err(ApiError::bad_request(format!(
            "page_size must be between 1 and 100, got {size}"
        )));
    }
    let request = product_pb::ListProductsRequest {
        category: query.category.unwrap_or_default(),
        query: query.q.unwrap_or_default(),
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let page = state
        .backends
        .product
        .clone()
        .list_products(state.backends.request(request, id.headers()))
        .await?
        .into_inner();
    Ok(Json(Page {
        items: page.products.into_iter().map(Product::from).collect(),
        next_page_token: next_token(page.next_page_token),
    }))
}

/// One product.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    responses((status = 200, body = Product), (status = 400), (status = 404)))]
pub async fn get_product(
    State(state): State<AppState>,
    rid: Forwarded,
    Path(id): Path<String>,
) -> ApiResult<Json<Product>> {
    let id = path_id(&id)?;
    let product = state
        .backends
        .product
        .clone()
        .get_product(state.backends.request(
            product_pb::GetProductRequest { id: id.to_string() },
            rid.headers(),
        ))
        .await?
        .into_inner();
    Ok(Json(product.into()))
}

/// A new product.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    pub image_url: Option<String>,
    pub unit_price_cents: i64,
    pub currency: String,
    /// Initial stock, default 0.
    pub available: Option<i64>,
}

/// Adds a product (administrator).
#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = NewProduct,
    responses((status = 201, body = Product), (status = 401), (status = 403), (status = 409, description = "duplicate sku"), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_product(
    State(state): State<AppState>,
    rid: Forwarded,
    _admin: Admin,
    Body(new): Body<NewProduct>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    let request = product_pb::CreateProductRequest {
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
        .product
        .clone()
        .create_product(state.backends.request(request, rid.headers()))
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?
        .into_inner();
    Ok((StatusCode::CREATED, Json(product.into())))
}

/// Fields of a product to change; absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProductPatch {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub unit_price_cents: Option<i64>,
    pub currency: Option<String>,
}

/// Changes a product (administrator).
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", request_body = ProductPatch,
    responses((status = 200, body = Product), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn update_product(
    State(state): State<AppState>,
    rid: Forwarded,
    _admin: Admin,
    Path(id): Path<String>,
    Body(patch): Body<ProductPatch>,
) -> ApiResult<Json<Product>> {
    let id = path_id(&id)?;
    let request = product_pb::UpdateProductRequest {
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
        .product
        .clone()
        .update_product(state.backends.request(request, rid.headers()))
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?
        .into_inner();
    Ok(Json(product.into()))
}

/// A stock change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StockDelta {
    /// Positive to restock, negative to write off.
    pub delta: i64,
}

/// Restocks or writes off (administrator); never below zero.
#[utoipa::path(post, path = "/api/v1/products/{id}/stock", tag = "products", request_body = StockDelta,
    responses((status = 200, body = Product), (status = 404), (status = 409, description = "would go below zero"), (status = 422)),
    security(("bearer" = [])))]
pub async fn adjust_stock(
    State(state): State<AppState>,
    rid: Forwarded,
    _admin: Admin,
    Path(id): Path<String>,
    Body(change): Body<StockDelta>,
) -> ApiResult<Json<Product>> {
    let id = path_id(&id)?;
    let request = product_pb::AdjustStockRequest {
        id: id.to_string(),
        delta: change.delta,
    };
    let product = state
        .backends
        .product
        .clone()
        .adjust_stock(state.backends.request(request, rid.headers()))
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?
        .into_inner();
    Ok(Json(product.into()))
}

// ---------------------------------------------------------------- cart

/// The caller's cart.
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart",
    responses((status = 200, body = Cart), (status = 401), (status = 503)), security(("bearer" = [])))]
pub async fn get_cart(
    State(state): State<AppState>,
    rid: Forwarded,
    User(user): User,
) -> ApiResult<Json<Cart>> {
    let request = cart_pb::GetCartRequest { user_id: user.sub };
    let cart = state
        .backends
        .cart
        .clone()
        .get_cart(state.backends.request(request, rid.headers()))
        .await?;
    Ok(Json(cart.into_inner().into()))
}

/// Units of a product to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddItem {
    pub product_id: String,
    /// 1..=99; the line may hold at most 99.
    pub quantity: i64,
}

/// Adds units to a line of the caller's cart.
#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart", request_body = AddItem,
    responses((status = 200, body = Cart), (status = 404, description = "unknown product"), (status = 422, description = "bad quantity, over 99, or a 51st line")),
    security(("bearer" = [])))]
pub async fn add_item(
    State(state): State<AppState>,
    rid: Forwarded,
    User(user): User,
    Body(item): Body<AddItem>,
) -> ApiResult<Json<Cart>> {
    let request = cart_pb::AddItemRequest {
        user_id: user.sub,
        product_id: item.product_id,
        quantity: item.quantity,
    };
    let cart = state
        .backends
        .cart
        .clone()
        .add_item(state.backends.request(request, rid.headers()))
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?;
    Ok(Json(cart.into_inner().into()))
}

/// A line's new quantity.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetQuantity {
    /// 0..=99; 0 removes the line.
    pub quantity: i64,
}

/// Sets a line's quantity; 0 removes it.
#[utoipa::path(put, path = "/api/v1/cart/items/{product_id}", tag = "cart", request_body = SetQuantity,
    responses((status = 200, body = Cart), (status = 400), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn set_item(
    State(state): State<AppState>,
    rid: Forwarded,
    User(user): User,
    Path(product_id): Path<String>,
    Body(set): Body<SetQuantity>,
) -> ApiResult<Json<Cart>> {
    let product_id = path_id(&product_id)?;
    let request = cart_pb::SetItemQuantityRequest {
        user_id: user.sub,
        product_id: product_id.to_string(),
        quantity: set.quantity,
    };
    let cart = state
        .backends
        .cart
        .clone()
        .set_item_quantity(state.backends.request(request, rid.headers()))
        .await
        .map_err(|s| ApiError::from_grpc(s).body_invalid_is_422())?;
    Ok(Json(cart.into_inner().into()))
}

/// Removes a line.
#[utoipa::path(delete, path = "/api/v1/cart/items/{product_id}", tag = "cart",
    responses((status = 200, body = Cart), (status = 400)), security(("bearer" = [])))]
pub async fn remove_item(
    State(state): State<AppState>,
    rid: Forwarded,
    User(user): User,
    Path(product_id): Path<String>,
) -> ApiResult<Json<Cart>> {
    let product_id = path_id(&product_id)?;
    let request = cart_pb::RemoveItemRequest {
        user_id: user.sub,
        product_id: product_id.to_string(),
    };
    let cart = state
        .backends
        .cart
        .clone()
        .remove_item(state.backends.request(request, rid.headers()))
        .await?;
    Ok(Json(cart.into_inner().into()))
}

/// Empties the cart.
#[utoipa::path(delete, path = "/api/v1/cart", tag = "cart", responses((status = 204)), security(("bearer" = [])))]
pub async fn clear_cart(
    State(state): State<AppState>,
    rid: Forwarded,
    User(user): User,
) -> ApiResult<StatusCode> {
    let request = cart_pb::ClearCartRequest { user_id: user.sub };
    state
        .backends
        .cart
        .clone()
        .clear_cart(state.backends.request(request, rid.headers()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- orders

/// Checks out the caller's cart, once per `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    params(("Idempotency-Key" = String, Header, description = "client-chosen key; a replay returns the original outcome")),
    responses(
        (status = 201, body = Order), (status = 200, body = Order, description = "replay of the key"),
        (status = 400, description = "no Idempotency-Key"),
        (status = 409, description = "insufficient stock (lists the items), or checkout in progress"),
        (status = 422, description = "empty cart")),
    security(("bearer" = [])))]
pub async fn place_order(
    State(state): State<AppState>,
    rid: Forwarded,
    User(user): User,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("the Idempotency-Key header is required"))?;
    let request = order_pb::PlaceOrderRequest {
        user_id: user.sub,
        idempotency_key: key.to_string(),
    };
    let response = state
        .backends
        .order
        .clone()
        .place_order(state.backends.request(request, rid.headers()))
        .await
        .map_err(|s| {
            // A bad key is a bad header: 400.
            ApiError::from_grpc(s)
        })?;
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
pub struct OrderQuery {
    /// 1..=100, default 20.
    pub page_size: Option<i32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(OrderQuery),
    responses((status = 200, body = Page<Order>), (status = 400)), security(("bearer" = [])))]
pub async fn list_orders(
    State(state): State<AppState>,
    rid: Forwarded,
    User(user): User,
    Params(query): Params<OrderQuery>,
) -> ApiResult<Json<Page<Order>>> {
    if let Some(size) = query.page_size
        && !(1..=100).contains(&size)
    {
        return Err(ApiError::bad_request(format!(
            "page_size must be between 1 and 100, got {size}"
        )));
    }
    let request = order_pb::ListOrdersRequest {
        user_id: user.sub,
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    let page = state
        .backends
        .order
        .clone()
        .list_orders(state.backends.request(request, rid.headers()))
        .await?
        .into_inner();
    Ok(Json(Page {
        items: page.orders.into_iter().map(Order::from).collect(),
        next_page_token: next_token(page.next_page_token),
    }))
}

/// One of the caller's orders.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    responses((status = 200, body = Order), (status = 400), (status = 404, description = "missing or not the caller's")),
    security(("bearer" = [])))]
pub async fn get_order(
    State(state): State<AppState>,
    rid: Forwarded,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<Order>> {
    let id = path_id(&id)?;
    let request = order_pb::GetOrderRequest {
        user_id: user.sub,
        order_id: id.to_string(),
    };
    let order = state
        .backends
        .order
        .clone()
        .get_order(state.backends.request(request, rid.headers()))
        .await?;
    Ok(Json(order.into_inner().into()))
}

/// Cancels one of the caller's CONFIRMED orders.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders",
    responses((status = 200, body = Order), (status = 404), (status = 409, description = "not CONFIRMED")),
    security(("bearer" = [])))]
pub async fn cancel_order(
    State(state): State<AppState>,
    rid: Forwarded,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<Order>> {
    let id = path_id(&id)?;
    let request = order_pb::CancelOrderRequest {
        user_id: user.sub,
        order_id: id.to_string(),
    };
    let order = state
        .backends
        .order
        .clone()
        .cancel_order(state.backends.request(request, rid.headers()))
        .await?;
    Ok(Json(order.into_inner().into()))
}
