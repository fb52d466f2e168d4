//! The REST contract of `docs/contract.md` and the storefront, through the
//! gateway in front of real services and PostgreSQL: one module per route
//! group, every route and every error status the contract lists (400, 401,
//! 403, 404, 409, 413, 422, 429, 503), one behaviour per test.
//!
//! Each test starts its own [`support::Stack`] on a fresh database, so the
//! tests run in parallel and see none of each other's rows.

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod carts;
mod docs;
mod errors;
mod faults;
mod isolation;
mod limits;
mod metrics;
mod orders;
mod products;
mod readiness;
mod scenarios;
mod storefront;
