//! One shopper reaches nothing of another shopper.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, problem};

/// Every route a shopper can call, from Bob's token, against Alice's cart
/// and order: Bob sees and changes only his own; admin routes are 403 for
/// both; no token is 401.
#[tokio::test]
async fn a_shopper_reaches_nothing_of_another_shopper_on_any_route() {
    let api = Api::start().await;
    let admin = api.admin().await;
    let alice = api.guest().await;
    let bob = api.guest().await;
    let mug = api.product(&admin, "MATRIX-MUG", 900, 10).await;
    let id = mug["id"].as_str().unwrap();
    let add = |qty: i64| json!({"product_id": id, "quantity": qty});

    api.post("/api/v1/cart/items", Some(&alice), add(1)).await;
    let placed = api.place(&alice, Some("alice-key")).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let order: Value = placed.json().await.unwrap();
    let order_id = order["id"].as_str().unwrap();
    api.post("/api/v1/cart/items", Some(&alice), add(3)).await;
    let alice_cart = || async {
        let cart: Value = api
            .get("/api/v1/cart", Some(&alice))
            .await
            .json()
            .await
            .unwrap();
        cart["items"].clone()
    };
    let before = alice_cart().await;
    assert_eq!(before[0]["quantity"], 3);

    // Reads: Bob's cart and history hold nothing of Alice's; her order is 404.
    let bobs: Value = api
        .get("/api/v1/cart", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["items"], json!([]));
    let history: Value = api
        .get("/api/v1/orders", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"], json!([]));
    let order_path = format!("/api/v1/orders/{order_id}");
    problem(
        api.get(&order_path, Some(&bob)).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Writes: each lands on Bob's own cart or is refused; Alice's stay put.
    let line = format!("/api/v1/cart/items/{id}");
    api.post("/api/v1/cart/items", Some(&bob), add(2)).await;
    api.call(Method::PUT, &line, Some(&bob), Some(json!({"quantity": 5})))
        .await;
    api.call(Method::DELETE, &line, Some(&bob), None).await;
    api.call(Method::DELETE, "/api/v1/cart", Some(&bob), None)
        .await;
    assert_eq!(alice_cart().await, before);
    problem(
        api.post(&format!("{order_path}/cancel"), Some(&bob), json!({}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Alice's idempotency key means nothing for Bob: his (empty) cart is
    // judged, not her order replayed.
    problem(
        api.place(&bob, Some("alice-key")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mine: Value = api
        .get(&order_path, Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["status"], "CONFIRMED");

    // Admin routes are closed to shoppers; shopper routes need a token.
    let product_path = format!("/api/v1/products/{id}");
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/products".to_string(),
            json!({"sku": "X"}),
        ),
        (
            Method::PATCH,
            product_path.clone(),
            json!({"name": "Taken"}),
        ),
        (
            Method::POST,
            format!("{product_path}/stock"),
            json!({"delta": -10}),
        ),
    ] {
        for token in [&alice, &bob] {
            problem(
                api.call(method.clone(), &path, Some(token), Some(body.clone()))
                    .await,
                StatusCode::FORBIDDEN,
            )
            .await;
        }
    }
    for (method, path) in [
        (Method::GET, "/api/v1/cart".to_string()),
        (Method::POST, "/api/v1/cart/items".to_string()),
        (Method::PUT, line.clone()),
        (Method::DELETE, line.clone()),
        (Method::DELETE, "/api/v1/cart".to_string()),
        (Method::POST, "/api/v1/orders".to_string()),
        (Method::GET, "/api/v1/orders".to_string()),
        (Method::GET, order_path.clone()),
        (Method::POST, format!("{order_path}/cancel")),
    ] {
        problem(
            api.call(method, &path, None, Some(json!({}))).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let stock: Value = api.get(&product_path, None).await.json().await.unwrap();
    assert_eq!(stock["available"], 9, "only Alice's one mug was sold");
}
