//! What every end-to-end test shares: the whole stack in-process on one
//! fresh database ([`Stack`]), a REST client for it ([`Api`], [`problem`]),
//! and the contract's invariants checked in SQL (from `shop-testkit`).
//!
//! Each test binary includes this module (`mod support;`) and uses part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code, unused_imports)]

mod api;
pub mod browser;
mod process;
mod stack;

pub use api::{Api, problem};
pub use process::own_process_env;
pub use shop_testkit::{
    TEST_ADMIN_PASSWORD, TEST_AUTH_SECRET, TEST_FAULTS_TOKEN, TEST_PAGE_TOKEN_SECRET, TestDb, env,
    eventually, invariant_violations, invariant_violations_at,
};
pub use stack::Stack;
