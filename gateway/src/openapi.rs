//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! Swagger UI at `/docs`, served from the binary without any CDN.

use axum::Json;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
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
        orders::get_shipment,
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

/// Content-Security-Policy of the docs: Swagger UI's own scripts, styles
/// and images from this origin (its icons are `data:` URIs), requests to
/// this origin only (the document and "Try it out"), no inline script, no
/// `eval`, never inside a frame. The one inline style Swagger UI writes
/// (the fills of its logo) is allowed by its hash alone; `report-sample`
/// lets a violation show what was blocked.
pub(crate) const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w=' 'report-sample'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// `GET /docs`: Swagger UI (the assets of `utoipa-swagger-ui-vendored`,
/// compiled into the binary) reading `/openapi.json`. `/docs` redirects to
/// `/docs/`, whose page loads its scripts and its initializer as files.
pub(crate) fn docs<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    let config = utoipa_swagger_ui::Config::new(["/openapi.json"])
        // The validator badge would ask validator.swagger.io.
        .validator_url("none")
        .display_operation_id(true);
    let ui = utoipa_swagger_ui::SwaggerUi::new("/docs").config(config);
    axum::Router::from(ui)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}
