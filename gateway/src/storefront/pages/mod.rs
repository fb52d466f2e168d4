//! The pages: the catalog, the cart and checkout, the orders. Each renders
//! with [`layout`]; an error is a page too ([`PageError`]).

pub(super) mod cart;
pub(super) mod catalog;
pub(super) mod orders;

use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::error::ApiError;

/// An error shown as an HTML page with the right status.
#[derive(Debug)]
pub(super) struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

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

/// The page around every page's `body`: head, navigation, footer.
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
}
