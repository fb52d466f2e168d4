//! The catalog: the product grid with its search and category filter, and
//! one product's page.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use maud::html;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use shop_proto::product as pb;
use uuid::Uuid;

use super::{PageError, PageResult, layout, money};
use crate::auth::Claims;
use crate::backends::CallContext;
use crate::error::ApiError;
use crate::resources::Product;
use crate::state::AppState;
use crate::storefront::session::csrf_token;

/// Categories of the demo catalog, for the filter bar.
const CATEGORIES: &[&str] = &["books", "games", "garden", "kitchen"];

/// Products on one page of the grid.
const PAGE_SIZE: i32 = 12;

/// What a query value keeps unescaped: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

#[derive(Debug, Deserialize)]
pub(crate) struct HomeQuery {
    category: Option<String>,
    q: Option<String>,
    page_token: Option<String>,
}

pub(crate) async fn home(
    State(state): State<AppState>,
    ctx: CallContext,
    Query(query): Query<HomeQuery>,
) -> PageResult {
    let category = query.category.unwrap_or_default();
    let q = query.q.unwrap_or_default();
    let request = pb::ListProductsRequest {
        category: category.clone(),
        query: q.clone(),
        page_size: PAGE_SIZE,
        page_token: query.page_token.unwrap_or_default(),
    };
    let page = state
        .backends
        .product(&ctx)
        .list_products(request)
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

pub(crate) async fn product_page(
    State(state): State<AppState>,
    ctx: CallContext,
    Extension(claims): Extension<Claims>,
    Path(id): Path<String>,
) -> PageResult {
    let id = Uuid::parse_str(&id).map_err(|_| PageError(ApiError::not_found("no such product")))?;
    let request = pb::GetProductRequest { id: id.to_string() };
    let product: Product = state
        .backends
        .product(&ctx)
        .get_product(request)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencode_escapes_reserved_characters() {
        assert_eq!(urlencode("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(urlencode("Aa0-_.~"), "Aa0-_.~");
        assert_eq!(urlencode("é/+"), "%C3%A9%2F%2B");
    }
}
