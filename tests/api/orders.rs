//! The checkout routes: place, replay, list, get and cancel.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, problem};

#[tokio::test]
async fn checkout_routes_place_replay_list_get_and_cancel() {
    let api = Api::start().await;
    let admin = api.admin().await;
    let alice = api.guest().await;
    let bob = api.guest().await;
    let mug = api.product(&admin, "MUG", 1250, 3).await;
    let id = mug["id"].as_str().unwrap();

    problem(api.place(&alice, None).await, StatusCode::BAD_REQUEST).await;
    let empty = problem(
        api.place(&alice, Some("k0")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(empty["type"], "/problems/empty-cart");

    api.post(
        "/api/v1/cart/items",
        Some(&alice),
        json!({"product_id": id, "quantity": 2}),
    )
    .await;
    let placed = api.place(&alice, Some("k1")).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["status"], "CONFIRMED");
    assert_eq!(order["total_cents"], 2500);
    assert!(order["number"].as_str().unwrap().starts_with("SO-"));
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));
    let replay = api.place(&alice, Some("k1")).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], order["id"]);

    // Only one mug is left: Bob's two are short.
    api.post(
        "/api/v1/cart/items",
        Some(&bob),
        json!({"product_id": id, "quantity": 2}),
    )
    .await;
    let short = problem(api.place(&bob, Some("k1")).await, StatusCode::CONFLICT).await;
    assert_eq!(short["type"], "/problems/insufficient-stock");
    assert_eq!(short["items"][0]["product_id"], id);

    let order_path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    assert_eq!(
        api.get(&order_path, Some(&alice)).await.status(),
        StatusCode::OK
    );
    problem(
        api.get(&order_path, Some(&bob)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        api.get("/api/v1/orders/not-a-uuid", Some(&alice)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let history: Value = api
        .get("/api/v1/orders?page_size=10", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
    assert!(history["next_page_token"].is_null());
    problem(
        api.get("/api/v1/orders?page_size=500", Some(&alice)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let cancel = format!("{order_path}/cancel");
    problem(
        api.call(Method::POST, &cancel, Some(&bob), None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let cancelled = api.call(Method::POST, &cancel, Some(&alice), None).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(
        cancelled.json::<Value>().await.unwrap()["status"],
        "CANCELLED"
    );
    problem(
        api.call(Method::POST, &cancel, Some(&alice), None).await,
        StatusCode::CONFLICT,
    )
    .await;
    let mug_now: Value = api
        .get(&format!("/api/v1/products/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        mug_now["available"], 3,
        "the cancelled order's stock came back"
    );
}
