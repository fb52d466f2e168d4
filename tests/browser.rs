//! The storefront in a real browser: headless Chromium driven over
//! WebDriver (chromedriver). A shopper filters the catalog, adds two
//! products, changes a quantity, checks out and finds the order in the
//! history. The final page is saved as `target/artifacts/storefront-*.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs
//! them); `CHROMIUM` and `CHROMEDRIVER` override where they are looked for.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};
use support::{Stack, TEST_ADMIN_PASSWORD};

fn find(var: &str, names: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/lib/chromium"].map(PathBuf::from))
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{} not found: install Debian's chromium and chromium-driver (scripts/test does), or set {var}", names[0])
        })
}

/// Clicks the element `locator` finds.
async fn click(c: &fantoccini::Client, locator: Locator<'_>) {
    c.find(locator).await.unwrap().click().await.unwrap();
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

#[tokio::test]
async fn a_shopper_filters_adds_two_products_changes_a_quantity_checks_out_and_sees_the_order() {
    let chromium = find(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let chromedriver = find("CHROMEDRIVER", &["chromedriver"]);
    let stack = Stack::start(&[]).await;
    seed(&stack).await;
    let base = stack.base_url();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut driver = tokio::process::Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let profile = std::env::temp_dir().join(format!("shop-chromium-{}", uuid::Uuid::new_v4()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1100,1000", format!("--user-data-dir={}", profile.display())]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut client = None;
    for _ in 0..50 {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let c = client.expect("chromedriver accepts a session");

    // Filter the catalog by category.
    c.goto(&format!("{base}/")).await.unwrap();
    click(&c, Locator::Css("a[data-category='kitchen']")).await;
    wait_for_url(&c, |url| url.contains("category=kitchen")).await;
    let mut names = Vec::new();
    for card in c.find_all(Locator::Css("li.card h2")).await.unwrap() {
        names.push(card.text().await.unwrap());
    }
    assert_eq!(names, ["Pour-over Kettle", "Stoneware Mug"]);

    // Add the mug, then search for the book and add it.
    click(&c, Locator::LinkText("Stoneware Mug")).await;
    wait_for_url(&c, |url| url.contains("/products/")).await;
    click(&c, Locator::Css("form[action='/cart/add'] button")).await;
    wait_for_url(&c, |url| url.ends_with("/cart")).await;
    c.goto(&format!("{base}/")).await.unwrap();
    let search = c.find(Locator::Css("input[name='q']")).await.unwrap();
    search.send_keys("bread").await.unwrap();
    click(&c, Locator::Css("form.search button")).await;
    wait_for_url(&c, |url| url.contains("q=bread")).await;
    click(&c, Locator::LinkText("The Bread Book")).await;
    wait_for_url(&c, |url| url.contains("/products/")).await;
    click(&c, Locator::Css("form[action='/cart/add'] button")).await;
    wait_for_url(&c, |url| url.ends_with("/cart")).await;
    assert_eq!(
        wait_for_text(&c, "#subtotal", "$43.00").await,
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
    click(&c, Locator::Css("tr[data-sku='MUG'] form button")).await;
    let subtotal = wait_for_text(&c, "#subtotal", "$71.00").await;
    assert_eq!(subtotal, "$71.00", "3 × $14.00 + $29.00");

    // Check out and find the order in the history.
    click(&c, Locator::Id("checkout")).await;
    wait_for_url(&c, |url| url.contains("/orders/")).await;
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
    click(&c, Locator::LinkText("All orders")).await;
    wait_for_url(&c, |url| url.ends_with("/orders")).await;
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

    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(
        artifacts.join("storefront-orders.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    c.goto(&format!("{base}/")).await.unwrap();
    std::fs::write(
        artifacts.join("storefront-catalog.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    c.close().await.unwrap();
    let _ = driver.kill().await;
    let _ = std::fs::remove_dir_all(profile);
}
