//! The checkout routes: place, replay, list, get and cancel.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{Api, eventually, problem};

/// The stack, the id of a mug at $12.50 with 3 in stock, and a shopper with 2 of them in the cart.
async fn shopper_with_two_mugs() -> (Api, String, String) {
    let api = Api::start().await;
    let mug = api.product_in_stock("MUG", 1250, 3).await;
    let shopper = api.shopper_with(&mug, 2).await;
    (api, mug, shopper)
}

/// As [`shopper_with_two_mugs`], the order placed under key `k1`, and its path.
async fn placed_order() -> (Api, String, String, String) {
    let (api, mug, shopper) = shopper_with_two_mugs().await;
    let order = api.placed_order(&shopper, "k1").await;
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    (api, mug, shopper, path)
}

// Placing.

#[tokio::test]
async fn placing_an_order_without_an_idempotency_key_is_a_400_problem() {
    let (api, _, shopper) = shopper_with_two_mugs().await;
    problem(api.place(&shopper, None).await, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn placing_an_order_from_an_empty_cart_is_a_422_empty_cart_problem() {
    let api = Api::start().await;
    let shopper = api.guest().await;

    let empty = problem(
        api.place(&shopper, Some("k0")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    assert_eq!(empty["type"], "/problems/empty-cart");
}

#[tokio::test]
async fn placing_an_order_confirms_the_carts_total_with_201() {
    let (api, _, shopper) = shopper_with_two_mugs().await;

    let placed = api.place(&shopper, Some("k1")).await;

    assert_eq!(placed.status(), StatusCode::CREATED);
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["status"], "CONFIRMED");
    assert_eq!(order["total_cents"], 2500);
}

#[tokio::test]
async fn an_order_has_an_so_number_and_a_creation_time_in_utc() {
    let (api, _, shopper) = shopper_with_two_mugs().await;

    let order = api.placed_order(&shopper, "k1").await;

    assert!(order["number"].as_str().unwrap().starts_with("SO-"));
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn replaying_an_idempotency_key_returns_the_first_order_with_200() {
    let (api, _, shopper) = shopper_with_two_mugs().await;
    let order = api.placed_order(&shopper, "k1").await;

    let replay = api.place(&shopper, Some("k1")).await;

    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], order["id"]);
}

#[tokio::test]
async fn an_order_short_of_stock_is_a_409_naming_the_short_product() {
    let (api, mug, alice) = shopper_with_two_mugs().await;
    api.placed_order(&alice, "k1").await;
    // Only one mug is left: Bob's two are short.
    let bob = api.shopper_with(&mug, 2).await;

    let short = problem(api.place(&bob, Some("k1")).await, StatusCode::CONFLICT).await;

    assert_eq!(short["type"], "/problems/insufficient-stock");
    assert_eq!(short["items"][0]["product_id"], mug);
}

// Reading.

#[tokio::test]
async fn a_shopper_gets_their_own_order() {
    let (api, _, shopper, order) = placed_order().await;
    assert_eq!(
        api.get(&order, Some(&shopper)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn another_shoppers_order_is_a_404_problem() {
    let (api, _, _, order) = placed_order().await;
    let bob = api.guest().await;
    problem(api.get(&order, Some(&bob)).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_malformed_order_id_is_a_400_problem() {
    let api = Api::start().await;
    let shopper = api.guest().await;
    let response = api.get("/api/v1/orders/not-a-uuid", Some(&shopper)).await;
    problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn the_order_history_lists_the_shoppers_orders_on_one_page() {
    let (api, _, shopper, _) = placed_order().await;

    let history = api
        .get_json("/api/v1/orders?page_size=10", Some(&shopper))
        .await;

    assert_eq!(history["items"].as_array().unwrap().len(), 1);
    assert!(history["next_page_token"].is_null());
}

#[tokio::test]
async fn an_order_page_size_over_100_is_a_400_problem() {
    let api = Api::start().await;
    let shopper = api.guest().await;
    let response = api
        .get("/api/v1/orders?page_size=500", Some(&shopper))
        .await;
    problem(response, StatusCode::BAD_REQUEST).await;
}

// Cancelling.

#[tokio::test]
async fn cancelling_a_confirmed_order_is_a_200_with_the_cancelled_order() {
    let (api, _, shopper, order) = placed_order().await;

    let cancelled = api
        .call(
            Method::POST,
            &format!("{order}/cancel"),
            Some(&shopper),
            None,
        )
        .await;

    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(
        cancelled.json::<Value>().await.unwrap()["status"],
        "CANCELLED"
    );
}

#[tokio::test]
async fn cancelling_another_shoppers_order_is_a_404_problem() {
    let (api, _, _, order) = placed_order().await;
    let bob = api.guest().await;

    let response = api
        .call(Method::POST, &format!("{order}/cancel"), Some(&bob), None)
        .await;

    problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn cancelling_an_order_twice_is_a_409_problem() {
    let (api, _, shopper, order) = placed_order().await;
    let cancel = format!("{order}/cancel");
    let first = api.call(Method::POST, &cancel, Some(&shopper), None).await;
    assert_eq!(first.status(), StatusCode::OK);

    let again = api.call(Method::POST, &cancel, Some(&shopper), None).await;

    problem(again, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn cancelling_an_order_gives_its_stock_back() {
    let (api, mug, shopper, order) = placed_order().await;
    let mug_path = format!("/api/v1/products/{mug}");
    assert_eq!(api.get_json(&mug_path, None).await["available"], 1);

    let cancelled = api
        .call(
            Method::POST,
            &format!("{order}/cancel"),
            Some(&shopper),
            None,
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);

    assert_eq!(
        api.get_json(&mug_path, None).await["available"],
        3,
        "the cancelled order's stock came back"
    );
}

#[tokio::test]
async fn an_order_s_shipment_appears_once_fulfillment_hears_of_it_for_its_owner_only() {
    let nats = shop_natstemp::NatsServer::start()
        .await
        .expect("nats-server");
    let api = Api::on(crate::support::Stack::start_with_events(&nats.url()).await);
    let mug = api.product_in_stock("MUG-SHIP", 1250, 3).await;
    let shopper = api.shopper_with(&mug, 1).await;
    let order = api.placed_order(&shopper, "ship-1").await;
    let path = format!("/api/v1/orders/{}/shipment", order["id"].as_str().unwrap());

    let shipment = eventually(std::time::Duration::from_secs(20), async || {
        let response = api.get(&path, Some(&shopper)).await;
        match response.status() {
            StatusCode::OK => Ok(response.json::<Value>().await.unwrap()),
            StatusCode::NOT_FOUND => Err("no shipment yet (404 until it exists)"),
            other => panic!("{other} before the shipment exists, not 404"),
        }
    })
    .await;
    assert_eq!(shipment["order_id"], order["id"]);
    assert!(
        ["PREPARING", "SHIPPED"].contains(&shipment["status"].as_str().unwrap()),
        "{shipment}"
    );
    assert!(
        shipment["tracking_number"]
            .as_str()
            .unwrap()
            .starts_with("SHP")
    );

    let stranger = api.guest().await;
    problem(api.get(&path, Some(&stranger)).await, StatusCode::NOT_FOUND).await;

    // The storefront's order page shows it (its session cookie is the token).
    let page = api
        .page_as(
            &format!("/orders/{}", order["id"].as_str().unwrap()),
            &shopper,
        )
        .await;
    assert!(page.contains("Shipment:"), "{page}");
    assert!(
        page.contains(shipment["tracking_number"].as_str().unwrap()),
        "{page}"
    );
}
