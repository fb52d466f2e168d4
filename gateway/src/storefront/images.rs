//! Product pictures drawn from their file name: a colour from the name's
//! hash and the SKU as a label. No network, no binary assets.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `GET /images/products/{stem}.svg`; a stem is 1 to 64 letters, digits,
/// `-` or `_`.
pub(super) async fn product_image(Path(file): Path<String>) -> Response {
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
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        svg(stem),
    )
        .into_response()
}

/// The picture of `stem`.
fn svg(stem: &str) -> String {
    let hash = stem.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    let hue = hash % 360;
    let label = stem.to_ascii_uppercase();
    format!(
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
    )
}
