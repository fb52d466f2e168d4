//! The cart routes: add, set, remove and clear.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Api, eventually, problem};

/// The stack, a new shopper's token and the id of a mug at $12.50 with 10 in stock.
async fn shopper_and_mug() -> (Api, String, String) {
    let api = Api::start().await;
    let mug = api.product_in_stock("MUG", 1250, 10).await;
    let shopper = api.guest().await;
    (api, shopper, mug)
}

/// The body of `POST /api/v1/cart/items`.
fn line(product_id: &str, quantity: i64) -> Value {
    json!({"product_id": product_id, "quantity": quantity})
}

#[tokio::test]
async fn a_new_shoppers_cart_is_empty() {
    let api = Api::start().await;
    let shopper = api.guest().await;

    let cart = api.get_json("/api/v1/cart", Some(&shopper)).await;

    assert_eq!(cart["items"], json!([]));
}

#[tokio::test]
async fn the_cart_needs_a_token() {
    let api = Api::start().await;
    let response = api.get("/api/v1/cart", None).await;
    problem(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn adding_a_product_already_in_the_cart_adds_to_its_line() {
    let (api, shopper, mug) = shopper_and_mug().await;
    api.add_to_cart(&shopper, &mug, 2).await;

    let cart = api.add_to_cart(&shopper, &mug, 1).await;

    assert_eq!(cart["items"].as_array().unwrap().len(), 1, "{cart}");
    assert_eq!(cart["items"][0]["quantity"], 3);
}

#[tokio::test]
async fn the_cart_prices_each_line_and_its_subtotal_in_the_products_currency() {
    let (api, shopper, mug) = shopper_and_mug().await;

    let cart = api.add_to_cart(&shopper, &mug, 3).await;

    assert_eq!(cart["items"][0]["line_total_cents"], 3750);
    assert_eq!(
        (cart["subtotal_cents"].clone(), cart["currency"].clone()),
        (json!(3750), json!("USD"))
    );
}

#[tokio::test]
async fn adding_a_quantity_of_zero_is_a_422_problem() {
    let (api, shopper, mug) = shopper_and_mug().await;
    let response = api
        .post("/api/v1/cart/items", Some(&shopper), line(&mug, 0))
        .await;
    problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn adding_past_99_of_one_product_is_a_422_problem() {
    let (api, shopper, mug) = shopper_and_mug().await;
    api.add_to_cart(&shopper, &mug, 3).await;

    let response = api
        .post("/api/v1/cart/items", Some(&shopper), line(&mug, 97))
        .await;

    problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn a_malformed_product_id_in_the_body_is_a_422_whose_detail_echoes_only_its_start() {
    let (api, shopper, _) = shopper_and_mug().await;
    let huge = "z".repeat(10_000);
    let response = api
        .post("/api/v1/cart/items", Some(&shopper), line(&huge, 1))
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.starts_with("product_id: must be a UUID"), "{detail}");
    assert!(
        detail.len() < 120,
        "the detail echoes {} bytes",
        detail.len()
    );
}

#[tokio::test]
async fn adding_an_unknown_product_is_a_404_problem() {
    let (api, shopper, _) = shopper_and_mug().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let response = api
        .post("/api/v1/cart/items", Some(&shopper), line(&unknown, 1))
        .await;
    problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn setting_a_quantity_replaces_the_lines_quantity() {
    let (api, shopper, mug) = shopper_and_mug().await;
    api.add_to_cart(&shopper, &mug, 3).await;

    let set = api
        .put(
            &format!("/api/v1/cart/items/{mug}"),
            &shopper,
            json!({"quantity": 5}),
        )
        .await;

    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(
        set.json::<Value>().await.unwrap()["items"][0]["quantity"],
        5
    );
}

#[tokio::test]
async fn setting_a_quantity_of_zero_removes_the_line() {
    let (api, shopper, mug) = shopper_and_mug().await;
    api.add_to_cart(&shopper, &mug, 3).await;

    let removed = api
        .put(
            &format!("/api/v1/cart/items/{mug}"),
            &shopper,
            json!({"quantity": 0}),
        )
        .await;

    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(removed.json::<Value>().await.unwrap()["items"], json!([]));
}

#[tokio::test]
async fn deleting_a_line_removes_it() {
    let (api, shopper, mug) = shopper_and_mug().await;
    api.add_to_cart(&shopper, &mug, 1).await;

    let deleted = api
        .delete(&format!("/api/v1/cart/items/{mug}"), &shopper)
        .await;

    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(deleted.json::<Value>().await.unwrap()["items"], json!([]));
}

#[tokio::test]
async fn a_malformed_product_id_in_a_line_path_is_a_400_problem() {
    let api = Api::start().await;
    let shopper = api.guest().await;
    let response = api.delete("/api/v1/cart/items/nope", &shopper).await;
    problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn clearing_the_cart_is_a_204_and_empties_it() {
    let (api, shopper, mug) = shopper_and_mug().await;
    api.add_to_cart(&shopper, &mug, 1).await;

    let cleared = api.delete("/api/v1/cart", &shopper).await;

    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    let cart = api.get_json("/api/v1/cart", Some(&shopper)).await;
    assert_eq!(cart["items"], json!([]));
}

#[tokio::test]
async fn a_line_whose_price_changed_shows_what_it_was_in_the_cart_and_on_the_cart_page() {
    let nats = shop_natstemp::NatsServer::start()
        .await
        .expect("nats-server");
    let api = Api::on(crate::support::Stack::start_with_events(&nats.url()).await);
    let mug = api.product_in_stock("MUG-WAS", 1200, 5).await;
    let shopper = api.guest().await;
    api.add_to_cart(&shopper, &mug, 1).await;
    let admin = api.admin().await;
    let patched = api
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/products/{mug}"),
            Some(&admin),
            Some(json!({"unit_price_cents": 1500})),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);

    let line = eventually(std::time::Duration::from_secs(20), async || {
        let cart = api.get_json("/api/v1/cart", Some(&shopper)).await;
        let line = cart["items"][0].clone();
        match line.get("previous_unit_price_cents") {
            Some(_) => Ok(line),
            None => Err(format!("no previous price yet: {line}")),
        }
    })
    .await;
    assert_eq!(line["unit_price_cents"], 1500);
    assert_eq!(line["previous_unit_price_cents"], 1200);

    // The storefront shows it too (its session cookie is the same token).
    let page = api.page_as("/cart", &shopper).await;
    assert!(page.contains("was $12.00"), "{page}");
}
