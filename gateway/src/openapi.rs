//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! a docs page that renders it without any CDN.

use axum::Json;
use axum::response::Html;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{auth, cart, orders, products};

/// The API description served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Shop API", version = "1", description = "REST API of Shop, the microservices reference shop. Errors are application/problem+json (RFC 9457)."),
    paths(
        auth::guest, auth::login,
        products::list_products, products::get_product, products::create_product,
        products::update_product, products::adjust_stock,
        cart::get_cart, cart::add_item, cart::set_item, cart::remove_item, cart::clear_cart,
        orders::place_order, orders::list_orders, orders::get_order, orders::cancel_order,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Tokens for guests and the administrator"),
        (name = "products", description = "The catalog"),
        (name = "cart", description = "The caller's cart"),
        (name = "orders", description = "Checkout and order history"),
    )
)]
pub(crate) struct ApiDoc;

/// Declares the `bearer` security scheme the paths refer to.
#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `GET /openapi.json`.
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /docs`: a self-contained page listing every operation of the document.
pub(crate) async fn docs() -> impl axum::response::IntoResponse {
    // The page's own inline script and style; it fetches /openapi.json and
    // nothing else, and is never framed.
    (
        [(
            axum::http::header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
        )],
        Html(include_str!("../static/docs.html")),
    )
}
