//! The catalog routes (list, filter, page, get) and the administrator's product routes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, problem};

/// A valid new product without `available`, as an administrator would send it.
fn new_product() -> Value {
    json!({"sku": "NEW-1", "name": "New", "description": "", "category": "test",
           "unit_price_cents": 500, "currency": "USD"})
}

/// The stack, its administrator's token, and products `SKU-0`, `SKU-1`, … `SKU-{n-1}`.
async fn catalog_of(n: usize) -> (Api, String) {
    let api = Api::start().await;
    let admin = api.admin().await;
    for i in 0..n {
        api.product(&admin, &format!("SKU-{i}"), 100, 5).await;
    }
    (api, admin)
}

/// The stack, its administrator's token, and the path of product `NEW-1` with `available` units.
async fn product_path(available: i64) -> (Api, String, String) {
    let api = Api::start().await;
    let admin = api.admin().await;
    let product = api.product(&admin, "NEW-1", 500, available).await;
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    (api, admin, path)
}

// The catalog.

#[tokio::test]
async fn the_catalog_pages_with_a_next_page_token_until_the_last_page() {
    let (api, _) = catalog_of(3).await;

    let page = api.get_json("/api/v1/products?page_size=2", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let token = page["next_page_token"].as_str().unwrap();
    let last = api
        .get_json(
            &format!("/api/v1/products?page_size=2&page_token={token}"),
            None,
        )
        .await;

    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert!(last["next_page_token"].is_null());
}

#[tokio::test]
async fn searching_by_text_and_category_finds_the_matching_product() {
    let (api, _) = catalog_of(3).await;

    let found = api
        .get_json("/api/v1/products?q=product%20sku-1&category=test", None)
        .await;

    assert_eq!(found["items"][0]["sku"], "SKU-1");
}

#[tokio::test]
async fn a_listed_product_carries_every_field_of_the_contract() {
    let (api, _) = catalog_of(1).await;

    let page = api.get_json("/api/v1/products", None).await;

    let product = &page["items"][0];
    for key in [
        "id",
        "sku",
        "name",
        "description",
        "category",
        "image_url",
        "unit_price_cents",
        "currency",
        "available",
    ] {
        assert!(product.get(key).is_some(), "missing {key}");
    }
}

#[tokio::test]
async fn a_product_is_found_by_its_id() {
    let api = Api::start().await;
    let id = api.product_in_stock("SKU-0", 100, 5).await;

    let one = api.get(&format!("/api/v1/products/{id}"), None).await;

    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(one.json::<Value>().await.unwrap()["id"], id);
}

#[tokio::test]
async fn a_page_size_of_zero_or_over_100_is_a_400_problem() {
    let api = Api::start().await;
    for size in ["0", "101"] {
        let response = api
            .get(&format!("/api/v1/products?page_size={size}"), None)
            .await;
        problem(response, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn a_page_size_that_is_not_a_number_is_a_400_problem() {
    let api = Api::start().await;
    let response = api.get("/api/v1/products?page_size=abc", None).await;
    problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn a_forged_page_token_is_a_400_problem() {
    let api = Api::start().await;
    let response = api.get("/api/v1/products?page_token=forged", None).await;
    problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn a_malformed_product_id_is_a_400_problem() {
    let api = Api::start().await;
    let response = api.get("/api/v1/products/not-a-uuid", None).await;
    problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn an_unknown_product_is_a_404_problem() {
    let api = Api::start().await;
    let missing = format!("/api/v1/products/{}", uuid::Uuid::new_v4());
    problem(api.get(&missing, None).await, StatusCode::NOT_FOUND).await;
}

// Creating products.

#[tokio::test]
async fn creating_a_product_needs_a_token() {
    let api = Api::start().await;
    let response = api.post("/api/v1/products", None, new_product()).await;
    problem(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn creating_a_product_needs_an_admin_token() {
    let api = Api::start().await;
    let shopper = api.guest().await;
    let response = api
        .post("/api/v1/products", Some(&shopper), new_product())
        .await;
    problem(response, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn a_new_product_without_available_stock_has_none() {
    let api = Api::start().await;
    let admin = api.admin().await;

    let response = api
        .post("/api/v1/products", Some(&admin), new_product())
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["available"], 0, "available defaults to 0");
}

#[tokio::test]
async fn a_duplicate_sku_is_a_409() {
    let api = Api::start().await;
    let admin = api.admin().await;
    let first = api
        .post("/api/v1/products", Some(&admin), new_product())
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);

    let again = api
        .post("/api/v1/products", Some(&admin), new_product())
        .await;

    problem(again, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn an_empty_product_name_is_a_422_problem() {
    let api = Api::start().await;
    let admin = api.admin().await;
    let invalid = json!({"sku": "X", "name": "", "category": "test", "unit_price_cents": 1, "currency": "USD"});
    let response = api.post("/api/v1/products", Some(&admin), invalid).await;
    problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn a_price_that_is_not_a_number_is_a_422_problem() {
    let api = Api::start().await;
    let admin = api.admin().await;
    let wrong_type = json!({"sku": "X", "name": "n", "category": "t", "unit_price_cents": "a lot", "currency": "USD"});
    let response = api.post("/api/v1/products", Some(&admin), wrong_type).await;
    problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

// Changing products.

#[tokio::test]
async fn patching_a_product_changes_only_the_fields_sent() {
    let (api, admin, product) = product_path(0).await;

    let patched = api
        .call(
            Method::PATCH,
            &product,
            Some(&admin),
            Some(json!({"name": "Renamed"})),
        )
        .await;

    assert_eq!(patched.status(), StatusCode::OK);
    let product = patched.json::<Value>().await.unwrap();
    assert_eq!(product["name"], "Renamed");
    assert_eq!(product["sku"], "NEW-1");
}

#[tokio::test]
async fn a_restock_adds_to_the_available_stock() {
    let (api, admin, product) = product_path(0).await;
    let stock = format!("{product}/stock");

    let restocked = api.post(&stock, Some(&admin), json!({"delta": 5})).await;

    assert_eq!(restocked.status(), StatusCode::OK);
    assert_eq!(restocked.json::<Value>().await.unwrap()["available"], 5);
}

#[tokio::test]
async fn a_write_off_below_zero_is_a_409() {
    let (api, admin, product) = product_path(5).await;
    let stock = format!("{product}/stock");

    let response = api.post(&stock, Some(&admin), json!({"delta": -6})).await;

    problem(response, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn a_stock_delta_of_zero_is_a_422_problem() {
    let (api, admin, product) = product_path(5).await;
    let stock = format!("{product}/stock");

    let response = api.post(&stock, Some(&admin), json!({"delta": 0})).await;

    problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn adjusting_stock_needs_an_admin_token() {
    let (api, _, product) = product_path(5).await;
    let shopper = api.guest().await;
    let stock = format!("{product}/stock");

    let response = api.post(&stock, Some(&shopper), json!({"delta": 1})).await;

    problem(response, StatusCode::FORBIDDEN).await;
}
