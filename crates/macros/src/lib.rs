//! `#[sql("orders.cancel")]`: the span every database call of a store
//! carries, written once. It expands to
//! `#[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.cancel", db.system = "postgresql"))]`,
//! so the function's caller needs `tracing` as a dependency. Use it as
//! `shop_runtime::db::sql`.

use proc_macro::TokenStream;

/// Spans the function as one database call named by the string literal:
/// the span is `sql`, its OpenTelemetry name the argument, its
/// `db.system` PostgreSQL, and no argument is recorded.
#[proc_macro_attribute]
pub fn sql(name: TokenStream, item: TokenStream) -> TokenStream {
    let literal = name.to_string();
    if !(literal.starts_with('"') && literal.ends_with('"') && literal.len() > 2) {
        return r#"compile_error!("write #[sql(\"store.operation\")]");"#
            .parse()
            .unwrap_or_default();
    }
    let attribute = format!(
        "#[::tracing::instrument(name = \"sql\", skip_all, fields(otel.name = {literal}, db.system = \"postgresql\"))]"
    );
    let mut out: TokenStream = attribute.parse().unwrap_or_default();
    out.extend(item);
    out
}
