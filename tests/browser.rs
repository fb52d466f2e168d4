//! The storefront in a real browser: headless Chromium driven over
//! WebDriver (chromedriver). A shopper filters the catalog, adds two
//! products, changes a quantity, checks out and finds the order in the
//! history. The API docs (Swagger UI at `/docs`) show every operation of
//! `/openapi.json`, and "Try it out" lists the products. The final pages
//! are saved as `target/artifacts/storefront-*.png` and `docs-*.png`.
//!
//! The browser is `support::browser` (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test` installs).

mod support;

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};
use support::browser::{Browser, csp_violations};
use support::{Stack, TEST_ADMIN_PASSWORD};

/// Clicks the element `locator` finds, once it is there (a page may still
/// be rendering it).
async fn click(c: &fantoccini::Client, locator: Locator<'_>) {
    for _ in 0..200 {
        if let Ok(element) = c.find(locator).await {
            element.click().await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing to click at {locator:?}");
}

/// Waits until the browser has navigated to a URL for which `arrived` holds.
async fn wait_for_url(c: &fantoccini::Client, arrived: impl Fn(&str) -> bool) {
    for _ in 0..200 {
        if let Ok(url) = c.current_url().await
            && arrived(url.as_str())
            && c.find(Locator::Css("footer")).await.is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the browser did not arrive; it is at {:?}",
        c.current_url().await
    );
}

/// The text of the element at `css` once it equals `expected` (pages
/// reload after forms; this waits for the new one).
async fn wait_for_text(c: &fantoccini::Client, css: &str, expected: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(element) = c.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text == expected {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

async fn seed(stack: &Stack) {
    let http = reqwest::Client::new();
    let base = stack.base_url();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": TEST_ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["token"].as_str().unwrap();
    for (sku, name, category, price) in [
        ("MUG", "Stoneware Mug", "kitchen", 1400),
        ("KETTLE", "Pour-over Kettle", "kitchen", 4600),
        ("BOOK", "The Bread Book", "books", 2900),
        ("DICE", "Polyhedral Dice", "games", 1200),
    ] {
        let response = http
            .post(format!("{base}/api/v1/products"))
            .bearer_auth(admin)
            .json(&json!({"sku": sku, "name": name, "description": format!("A fine {name}"), "category": category,
                          "image_url": format!("/images/products/{}.svg", sku.to_lowercase()),
                          "unit_price_cents": price, "currency": "USD", "available": 20}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

/// Saves a screenshot as `target/artifacts/{name}`.
async fn screenshot(c: &fantoccini::Client, name: &str) {
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join(name), c.screenshot().await.unwrap()).unwrap();
}

#[tokio::test]
async fn a_shopper_filters_adds_two_products_changes_a_quantity_checks_out_and_sees_the_order() {
    let stack = Stack::start(&[]).await;
    seed(&stack).await;
    let base = stack.base_url();
    let browser = Browser::start(1100, 1000).await;
    let c = &browser.client;

    // Filter the catalog by category.
    c.goto(&format!("{base}/")).await.unwrap();
    click(c, Locator::Css("a[data-category='kitchen']")).await;
    wait_for_url(c, |url| url.contains("category=kitchen")).await;
    let mut names = Vec::new();
    for card in c.find_all(Locator::Css("li.card h2")).await.unwrap() {
        names.push(card.text().await.unwrap());
    }
    assert_eq!(names, ["Pour-over Kettle", "Stoneware Mug"]);

    // Add the mug, then search for the book and add it.
    click(c, Locator::LinkText("Stoneware Mug")).await;
    wait_for_url(c, |url| url.contains("/products/")).await;
    click(c, Locator::Css("form[action='/cart/add'] button")).await;
    wait_for_url(c, |url| url.ends_with("/cart")).await;
    c.goto(&format!("{base}/")).await.unwrap();
    let search = c.find(Locator::Css("input[name='q']")).await.unwrap();
    search.send_keys("bread").await.unwrap();
    click(c, Locator::Css("form.search button")).await;
    wait_for_url(c, |url| url.contains("q=bread")).await;
    click(c, Locator::LinkText("The Bread Book")).await;
    wait_for_url(c, |url| url.contains("/products/")).await;
    click(c, Locator::Css("form[action='/cart/add'] button")).await;
    wait_for_url(c, |url| url.ends_with("/cart")).await;
    assert_eq!(
        wait_for_text(c, "#subtotal", "$43.00").await,
        "$43.00",
        "$14.00 + $29.00"
    );

    // Three mugs instead of one.
    let quantity = c
        .find(Locator::Css("tr[data-sku='MUG'] input[name='quantity']"))
        .await
        .unwrap();
    quantity.clear().await.unwrap();
    quantity.send_keys("3").await.unwrap();
    click(c, Locator::Css("tr[data-sku='MUG'] form button")).await;
    let subtotal = wait_for_text(c, "#subtotal", "$71.00").await;
    assert_eq!(subtotal, "$71.00", "3 × $14.00 + $29.00");

    // Check out and find the order in the history.
    click(c, Locator::Id("checkout")).await;
    wait_for_url(c, |url| url.contains("/orders/")).await;
    let status = c
        .find(Locator::Id("status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "CONFIRMED");
    let heading = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let number = heading.trim_start_matches("Order ").to_string();
    click(c, Locator::LinkText("All orders")).await;
    wait_for_url(c, |url| url.ends_with("/orders")).await;
    let history = c
        .find(Locator::Id("orders"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        history.contains(&number) && history.contains("$71.00"),
        "{history}"
    );

    screenshot(c, "storefront-orders.png").await;
    c.goto(&format!("{base}/")).await.unwrap();
    screenshot(c, "storefront-catalog.png").await;
    browser.close().await;
}

/// `METHOD path operationId` of every operation of the OpenAPI document.
fn operations_of(doc: &Value) -> Vec<String> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                let id = operation["operationId"].as_str().expect("operationId");
                operations.push(format!("{} {path} {id}", method.to_uppercase()));
            }
        }
    }
    operations.sort();
    operations
}

/// `METHOD path operationId` of every operation the docs page shows, once
/// it shows `count` of them (Swagger UI renders after fetching the document).
async fn operations_shown(c: &fantoccini::Client, count: usize) -> Vec<String> {
    let mut shown = Vec::new();
    for _ in 0..200 {
        shown.clear();
        for block in c.find_all(Locator::Css(".opblock")).await.unwrap() {
            let method = block.find(Locator::Css(".opblock-summary-method"));
            let path = block.find(Locator::Css(".opblock-summary-path"));
            let id = block.find(Locator::Css(".opblock-summary-operation-id"));
            if let (Ok(method), Ok(path), Ok(id)) = (method.await, path.await, id.await) {
                let path = path.attr("data-path").await.unwrap().unwrap_or_default();
                let (method, id) = (method.text().await.unwrap(), id.text().await.unwrap());
                shown.push(format!("{method} {path} {id}"));
            }
        }
        if shown.len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shown.sort();
    shown
}

#[tokio::test]
async fn the_api_docs_list_every_operation_and_try_it_out_lists_the_products() {
    let stack = Stack::start(&[]).await;
    seed(&stack).await;
    let base = stack.base_url();
    let doc: Value = reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations = operations_of(&doc);
    assert!(operations.len() >= 16, "{operations:?}");
    let browser = Browser::start(1100, 1000).await;
    let c = &browser.client;

    // Every operation of the document, as the page renders it.
    c.goto(&format!("{base}/docs")).await.unwrap();
    assert_eq!(operations_shown(c, operations.len()).await, operations);

    // Try it out: list the products.
    let block = "#operations-products-list_products";
    click(
        c,
        Locator::Css(&format!("{block} .opblock-summary-control")),
    )
    .await;
    click(c, Locator::Css(&format!("{block} button.try-out__btn"))).await;
    click(c, Locator::Css(&format!("{block} button.execute"))).await;
    let status = format!("{block} .live-responses-table .response .response-col_status");
    assert_eq!(wait_for_text(c, &status, "200").await, "200");
    let answer = c
        .find(Locator::Css(&format!("{block} .live-responses-table")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(answer.contains("Stoneware Mug"), "{answer}");

    // All of it under the page's strict Content-Security-Policy.
    assert_eq!(csp_violations(c).await, Vec::<Value>::new());
    screenshot(c, "docs-try-it-out.png").await;
    browser.close().await;
}
