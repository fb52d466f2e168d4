//! The weighted shopper journeys, as goose scenarios.
//!
//! Every user first takes a token (a guest token, or the admin's), so rate
//! limits count per user as they would for real shoppers, and learns the
//! catalog. Requests are named by their route template (`GET
//! /api/v1/products/{id}`), so the reports group them as the gateway's
//! metrics do.
//!
//! Every request goes through [`send`], which counts it by that name in a
//! per-second time series ([`Recorder`]) from goose's own measure of it
//! (its [`GooseRequestMetric`](goose::metrics::GooseRequestMetric): time
//! to the response's headers, success as goose judged it). `report.html`
//! is drawn from that series; goose's reports are kept beside it as
//! `goose-report.html` and `goose-report.json`.

use std::sync::Arc;
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::goose::GooseResponse;
use goose::prelude::*;
use rand::seq::IndexedRandom as _;
use serde_json::{Value, json};

use crate::report::{self, Report};
use crate::series::Recorder;
use crate::{LoadArgs, Verdict};

/// A transaction of `$journey(user, &recorder)`, with the recorder shared.
macro_rules! recorded {
    ($recorder:expr, $journey:ident) => {{
        let recorder: Arc<Recorder> = Arc::clone(&$recorder);
        Transaction::new(Arc::new(move |user| {
            let recorder = Arc::clone(&recorder);
            Box::pin(async move { $journey(user, &recorder).await })
        }))
    }};
}

/// Restock a product when fewer units than this are available.
const LOW_STOCK: i64 = 1_000;
/// Units added by one restock.
const RESTOCK: i64 = 10_000;

/// What a user knows between transactions.
#[derive(Debug, Clone)]
struct Session {
    /// Product ids of the catalog's first page.
    products: Vec<String>,
    /// Their categories, for the filter step.
    categories: Vec<String>,
}

/// Runs the journeys with goose, writes the reports and judges the
/// bounds.
pub async fn run(args: &LoadArgs) -> anyhow::Result<Verdict> {
    let mix = args.mix;
    let think = Duration::from_millis(args.think_ms);
    let mut attack = GooseAttack::initialize_with_config(configuration(args))?;
    let recorder = Arc::new(Recorder::new(std::time::Instant::now()));
    let scenario = |name: &str, weight: usize| -> anyhow::Result<Scenario> {
        Ok(Scenario::new(name)
            .set_weight(weight)?
            .set_wait_time(Duration::ZERO, think)?)
    };
    if mix.browse > 0 {
        attack = attack.register_scenario(
            scenario("browse", mix.browse)?
                .register_transaction(recorded!(recorder, start_guest).set_on_start())
                .register_transaction(recorded!(recorder, browse).set_name("browse")),
        );
    }
    if mix.shopper > 0 {
        attack = attack.register_scenario(
            scenario("shopper", mix.shopper)?
                .register_transaction(recorded!(recorder, start_guest).set_on_start())
                .register_transaction(recorded!(recorder, edit_cart).set_name("edit cart")),
        );
    }
    if mix.buyer > 0 {
        attack = attack.register_scenario(
            scenario("buyer", mix.buyer)?
                .register_transaction(recorded!(recorder, start_guest).set_on_start())
                .register_transaction(recorded!(recorder, check_out).set_name("check out")),
        );
    }
    if mix.admin > 0 {
        let password: Arc<str> = args
            .admin_password
            .as_deref()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the admin journey needs the admin password: --admin-password or \
                     ADMIN_PASSWORD (`shop up` prints it), or leave admin out of --mix"
                )
            })?
            .into();
        let admin_recorder = Arc::clone(&recorder);
        let start_admin = Transaction::new(Arc::new(move |user| {
            let password = password.clone();
            let recorder = Arc::clone(&admin_recorder);
            Box::pin(async move { start_admin(user, &recorder, &password).await })
        }));
        attack = attack.register_scenario(
            // The restocker looks every second, whatever --think-ms says.
            Scenario::new("admin")
                .set_weight(mix.admin)?
                .set_wait_time(Duration::from_secs(1), Duration::from_secs(1))?
                .register_transaction(start_admin.set_on_start())
                .register_transaction(recorded!(recorder, restock).set_name("restock")),
        );
    }
    let outcome = attack.execute().await;
    make_offline(&args.report_dir.join("goose-report.html"))?;
    let series = recorder.finish();
    std::fs::write(
        args.report_dir.join("timeseries.json"),
        serde_json::to_vec_pretty(&series)?,
    )?;
    let m = args.mix;
    let facts = vec![
        ("target".to_string(), args.target.to_string()),
        ("users".into(), args.users.to_string()),
        (
            "ramp-up, then load".into(),
            format!("{} s, then {} s", args.ramp_up, args.duration),
        ),
        (
            "mix".into(),
            format!(
                "browse={}, shopper={}, buyer={}, admin={}",
                m.browse, m.shopper, m.buyer, m.admin
            ),
        ),
        ("think time".into(), format!("0 to {} ms", args.think_ms)),
        (
            "goose's reports".into(),
            "goose-report.html, goose-report.json".into(),
        ),
    ];
    report::write(
        &args.report_dir,
        &Report {
            title: "journeys".into(),
            facts,
            series: &series,
            sweep: None,
        },
    )?;
    match outcome {
        Ok(_) => Ok(Verdict::Passed),
        Err(GooseError::ThresholdsFailed { failed, .. }) => Ok(Verdict::Failed(
            failed
                .iter()
                .map(|f| format!("{} broken: observed {}", f.rule, f.observed))
                .collect(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Goose's HTML report loads its chart library from a CDN; Shop's pages load
/// nothing from the network. Drops every remote script and hides the chart
/// areas it would have drawn, keeping the tables (report.json holds the
/// same figures).
fn make_offline(report: &std::path::Path) -> anyhow::Result<()> {
    let Ok(mut html) = std::fs::read_to_string(report) else {
        return Ok(()); // no report: the run failed before writing one
    };
    while let Some(start) = html.find("<script src=\"http") {
        let Some(end) = html[start..].find("</script>") else {
            break;
        };
        html.replace_range(
            start..start + end + "</script>".len(),
            "<!-- remote script removed by shop loadtest: reports work offline -->",
        );
    }
    html = html.replacen(
        "</head>",
        "<style>div[id^=\"graph-\"] { display: none; }</style></head>",
        1,
    );
    std::fs::write(report, html)?;
    Ok(())
}

/// The goose configuration the flags describe.
fn configuration(args: &LoadArgs) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    config.host = Some(args.target.as_str().trim_end_matches('/').to_string());
    config.users = Some(args.users);
    if args.ramp_up > 0 && args.users >= 2 {
        config.increase_time = Some(format!("{}s", args.ramp_up));
    } else {
        config.increase_rate = Some(args.users.max(1).to_string());
    }
    config.run_time = Some(format!("{}s", args.duration));
    config.report_file = vec![
        args.report_dir
            .join("goose-report.html")
            .display()
            .to_string(),
        args.report_dir
            .join("goose-report.json")
            .display()
            .to_string(),
    ];
    if let Some(rate) = args.max_error_rate {
        config.threshold.push(format!("error-rate<={rate}%"));
    }
    if let Some(ms) = args.max_p99_ms {
        config.threshold.push(format!("p99<={ms}ms"));
    }
    // Goose's figures cover the whole run, ramp-up included, as the time
    // series of report.html do: both count the same requests.
    config.no_reset_metrics = true;
    // No controllers listening on fixed ports: a load test may run beside
    // another, and nothing here is driven remotely.
    config.no_telnet = true;
    config.no_websocket = true;
    config.timeout = Some("30".into());
    config
}

/// Sends `request` and counts it in `recorder` under its method and name.
async fn send(
    user: &mut GooseUser,
    recorder: &Recorder,
    request: GooseRequest<'_>,
) -> Result<GooseResponse, Box<TransactionError>> {
    let response = user.request(request).await?;
    let metric = &response.request;
    recorder.record(
        &format!("{} {}", metric.raw.method_label(), metric.name),
        metric.response_time_micros(),
        metric.success,
    );
    Ok(response)
}

/// Takes a guest token and learns the catalog.
async fn start_guest(user: &mut GooseUser, recorder: &Recorder) -> TransactionResult {
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path("/api/v1/auth/guest")
        .expect_status_code(201)
        .build();
    let token = token_from(send(user, recorder, request).await?).await?;
    authorize(user, &token).await?;
    learn_catalog(user, recorder).await
}

/// Logs in as the admin and learns the catalog.
async fn start_admin(
    user: &mut GooseUser,
    recorder: &Recorder,
    password: &str,
) -> TransactionResult {
    let path = "/api/v1/auth/login";
    let builder = user
        .get_request_builder(&GooseMethod::Post, path)?
        .json(&json!({"username": "admin", "password": password}));
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(path)
        .set_request_builder(builder)
        .build();
    let token = token_from(send(user, recorder, request).await?).await?;
    authorize(user, &token).await?;
    learn_catalog(user, recorder).await
}

/// The token of an auth response; a failed login fails the transaction.
async fn token_from(
    response: goose::goose::GooseResponse,
) -> Result<String, Box<TransactionError>> {
    let body: Value = response.response?.error_for_status()?.json().await?;
    body["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| custom("auth response without a token"))
}

/// Sends `token` with every later request of this user.
async fn authorize(user: &mut GooseUser, token: &str) -> TransactionResult {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| custom("token is not a header value"))?;
    headers.insert(reqwest::header::AUTHORIZATION, value);
    user.set_client_builder(
        reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(30)),
    )
    .await
    .map_err(Box::new)
}

/// The catalog's first 100 products, as JSON.
async fn first_page(
    user: &mut GooseUser,
    recorder: &Recorder,
) -> Result<Value, Box<TransactionError>> {
    get_json(
        user,
        recorder,
        "/api/v1/products?page_size=100",
        "/api/v1/products",
    )
    .await
}

/// Reads the catalog's first page into the session.
async fn learn_catalog(user: &mut GooseUser, recorder: &Recorder) -> TransactionResult {
    let page = first_page(user, recorder).await?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(custom("the catalog is empty: nothing to load-test"));
    }
    let field = |item: &Value, name: &str| item[name].as_str().unwrap_or_default().to_string();
    let mut categories: Vec<String> = items.iter().map(|i| field(i, "category")).collect();
    categories.sort();
    categories.dedup();
    user.set_session_data(Session {
        products: items.iter().map(|i| field(i, "id")).collect(),
        categories,
    });
    Ok(())
}

/// Browse: the catalog, one category, one product.
async fn browse(user: &mut GooseUser, recorder: &Recorder) -> TransactionResult {
    let (product, category) = {
        let session = session(user)?;
        (pick(&session.products)?, pick(&session.categories)?)
    };
    get_json(
        user,
        recorder,
        "/api/v1/products?page_size=20",
        "/api/v1/products",
    )
    .await?;
    get_json(
        user,
        recorder,
        &format!("/api/v1/products?category={category}"),
        "/api/v1/products?category",
    )
    .await?;
    get_json(
        user,
        recorder,
        &format!("/api/v1/products/{product}"),
        "/api/v1/products/{id}",
    )
    .await?;
    Ok(())
}

/// Adds one unit of a random catalog product to the cart; returns its id.
async fn add_random_product(
    user: &mut GooseUser,
    recorder: &Recorder,
) -> Result<String, Box<TransactionError>> {
    let product = pick(&session(user)?.products)?;
    send_json(
        user,
        recorder,
        GooseMethod::Post,
        "/api/v1/cart/items",
        "/api/v1/cart/items",
        json!({"product_id": product, "quantity": 1}),
        200,
    )
    .await?;
    Ok(product)
}

/// Shopper: add a product, change its quantity, view the cart, remove it.
async fn edit_cart(user: &mut GooseUser, recorder: &Recorder) -> TransactionResult {
    let product = add_random_product(user, recorder).await?;
    let line = format!("/api/v1/cart/items/{product}");
    send_json(
        user,
        recorder,
        GooseMethod::Put,
        &line,
        "/api/v1/cart/items/{product_id}",
        json!({"quantity": 2}),
        200,
    )
    .await?;
    get_json(user, recorder, "/api/v1/cart", "/api/v1/cart").await?;
    let request = GooseRequest::builder()
        .method(GooseMethod::Delete)
        .path(line.as_str())
        .name("/api/v1/cart/items/{product_id}")
        .expect_status_code(200)
        .build();
    send(user, recorder, request).await?;
    Ok(())
}

/// Buyer: add a product, check out with a fresh idempotency key, read the
/// order back.
async fn check_out(user: &mut GooseUser, recorder: &Recorder) -> TransactionResult {
    add_random_product(user, recorder).await?;
    let builder = user
        .get_request_builder(&GooseMethod::Post, "/api/v1/orders")?
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path("/api/v1/orders")
        .name("/api/v1/orders")
        .set_request_builder(builder)
        .expect_status_code(201)
        .build();
    let order: Value = match send(user, recorder, request).await?.response {
        Ok(response) if response.status().as_u16() == 201 => response.json().await?,
        // The failure is already counted against the request.
        _ => return Ok(()),
    };
    let id = order["id"]
        .as_str()
        .ok_or_else(|| custom("order without an id"))?;
    get_json(
        user,
        recorder,
        &format!("/api/v1/orders/{id}"),
        "/api/v1/orders/{id}",
    )
    .await?;
    Ok(())
}

/// Admin: restock every product of the first page running low.
async fn restock(user: &mut GooseUser, recorder: &Recorder) -> TransactionResult {
    let page = first_page(user, recorder).await?;
    for item in page["items"].as_array().cloned().unwrap_or_default() {
        if item["available"].as_i64().unwrap_or(0) >= LOW_STOCK {
            continue;
        }
        let id = item["id"].as_str().unwrap_or_default();
        send_json(
            user,
            recorder,
            GooseMethod::Post,
            &format!("/api/v1/products/{id}/stock"),
            "/api/v1/products/{id}/stock",
            json!({"delta": RESTOCK}),
            200,
        )
        .await?;
    }
    Ok(())
}

/// GETs `path` (reported as `name`) and returns its JSON body, or `Null`
/// when the request failed (the failure is already counted).
async fn get_json(
    user: &mut GooseUser,
    recorder: &Recorder,
    path: &str,
    name: &str,
) -> Result<Value, Box<TransactionError>> {
    let request = GooseRequest::builder()
        .method(GooseMethod::Get)
        .path(path)
        .name(name)
        .build();
    match send(user, recorder, request).await?.response {
        Ok(response) if response.status().is_success() => Ok(response.json().await?),
        _ => Ok(Value::Null),
    }
}

/// Sends `body` as JSON and expects `status`.
async fn send_json(
    user: &mut GooseUser,
    recorder: &Recorder,
    method: GooseMethod,
    path: &str,
    name: &str,
    body: Value,
    status: u16,
) -> TransactionResult {
    let builder = user.get_request_builder(&method, path)?.json(&body);
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .set_request_builder(builder)
        .expect_status_code(status)
        .build();
    send(user, recorder, request).await?;
    Ok(())
}

/// This user's session, set by its start transaction.
fn session(user: &GooseUser) -> Result<&Session, Box<TransactionError>> {
    user.get_session_data::<Session>()
        .ok_or_else(|| custom("no session: the start transaction failed"))
}

/// A random element.
fn pick(items: &[String]) -> Result<String, Box<TransactionError>> {
    items
        .choose(&mut rand::rng())
        .cloned()
        .ok_or_else(|| custom("nothing to choose from"))
}

/// A transaction failure with a message.
fn custom(message: &str) -> Box<TransactionError> {
    Box::new(TransactionError::Custom(message.to_string()))
}
