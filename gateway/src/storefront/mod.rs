//! The storefront: server-rendered HTML that works without JavaScript.
//!
//! A guest session is created on the first visit and kept in an HttpOnly,
//! SameSite=Lax cookie holding the same JWT the API takes as a bearer token
//! ([`session`]). Every form that changes state carries a CSRF token: an
//! HMAC of the session's user id, checked on submit. The [`pages`] call the
//! same backends as the API, with the same [`CallContext`]; the
//! [`images`] are SVGs drawn here, so the shop works offline.
//!
//! [`CallContext`]: crate::backends::CallContext

mod images;
mod pages;
mod session;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;

/// The pages, under the session and the pages' security headers, and the
/// static assets and images outside any session.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(pages::catalog::home))
        .route("/products/{id}", get(pages::catalog::product_page))
        .route("/cart", get(pages::cart::cart_page))
        .route("/cart/add", post(pages::cart::cart_add))
        .route("/cart/update", post(pages::cart::cart_update))
        .route("/checkout", post(pages::cart::checkout))
        .route("/orders", get(pages::orders::orders_page))
        .route("/orders/{id}", get(pages::orders::order_page))
        .route("/orders/{id}/cancel", post(pages::orders::order_cancel))
        .layer(axum::middleware::from_fn_with_state(
            state,
            session::session,
        ))
        .layer(axum::middleware::from_fn(security_headers));
    let assets = Router::new()
        .route("/static/style.css", get(stylesheet))
        .route("/images/products/{file}", get(images::product_image));
    Router::new().merge(pages).merge(assets)
}

/// Content-Security-Policy of every page: nothing but this shop's own
/// stylesheet, images and forms; no script; never inside a frame.
const PAGE_CSP: &str = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'none'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the pages' security headers to every storefront answer.
async fn security_headers(request: Request, next: Next) -> Response {
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

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
}
