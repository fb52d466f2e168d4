//! The cart routes: add, set, remove and clear.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, problem};

#[tokio::test]
async fn cart_routes_add_set_remove_and_clear() {
    let api = Api::start().await;
    let admin = api.admin().await;
    let shopper = api.guest().await;
    let mug = api.product(&admin, "MUG", 1250, 10).await;
    let id = mug["id"].as_str().unwrap();
    let add = |quantity: i64| json!({"product_id": id, "quantity": quantity});

    let empty: Value = api
        .get("/api/v1/cart", Some(&shopper))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["items"], json!([]));
    problem(
        api.get("/api/v1/cart", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    api.post("/api/v1/cart/items", Some(&shopper), add(2)).await;
    let cart: Value = api
        .post("/api/v1/cart/items", Some(&shopper), add(1))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cart["items"][0]["quantity"], 3);
    assert_eq!(cart["items"][0]["line_total_cents"], 3750);
    assert_eq!(
        (cart["subtotal_cents"].clone(), cart["currency"].clone()),
        (json!(3750), json!("USD"))
    );

    problem(
        api.post("/api/v1/cart/items", Some(&shopper), add(0)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        api.post("/api/v1/cart/items", Some(&shopper), add(97))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let unknown = json!({"product_id": uuid::Uuid::new_v4(), "quantity": 1});
    problem(
        api.post("/api/v1/cart/items", Some(&shopper), unknown)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let line = format!("/api/v1/cart/items/{id}");
    let set: Value = api
        .call(
            Method::PUT,
            &line,
            Some(&shopper),
            Some(json!({"quantity": 5})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(set["items"][0]["quantity"], 5);
    let removed: Value = api
        .call(
            Method::PUT,
            &line,
            Some(&shopper),
            Some(json!({"quantity": 0})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(removed["items"], json!([]));
    api.post("/api/v1/cart/items", Some(&shopper), add(1)).await;
    let deleted = api.call(Method::DELETE, &line, Some(&shopper), None).await;
    assert_eq!(deleted.json::<Value>().await.unwrap()["items"], json!([]));
    problem(
        api.call(
            Method::DELETE,
            "/api/v1/cart/items/nope",
            Some(&shopper),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    api.post("/api/v1/cart/items", Some(&shopper), add(1)).await;
    let cleared = api
        .call(Method::DELETE, "/api/v1/cart", Some(&shopper), None)
        .await;
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
}
