//! The gateway's abuse limits through real requests: every request is
//! charged against its IP, sign-in routes have a strict per-IP limit, failed
//! logins back off, and `X-Forwarded-For` counts only from trusted proxies.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, TEST_ADMIN_PASSWORD, problem};

/// The stack, with requests built here so a test can add headers.
struct Gateway {
    api: Api,
}

async fn gateway(vars: &[(&str, &str)]) -> Gateway {
    Gateway {
        api: Api::start_with(vars).await,
    }
}

impl Gateway {
    fn get(&self, path: &str) -> RequestBuilder {
        self.api.http.get(format!("{}{path}", self.api.base))
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.api.http.post(format!("{}{path}", self.api.base))
    }

    async fn status(request: RequestBuilder) -> StatusCode {
        request.send().await.expect("gateway answers").status()
    }

    async fn guest(&self) -> (StatusCode, Option<String>) {
        let response = self.post("/api/v1/auth/guest").send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body["token"].as_str().map(str::to_string))
    }

    async fn login(&self, password: &str) -> reqwest::Response {
        self.post("/api/v1/auth/login")
            .json(&json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap()
    }
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn fresh_guest_tokens_give_a_client_no_fresh_budget() {
    let gw = gateway(&[
        ("RATE_LIMIT_PER_IP_PER_SECOND", "1"),
        ("RATE_LIMIT_PER_IP_BURST", "6"),
    ])
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (status, token) = gw.guest().await;
        statuses.push(status);
        let Some(token) = token else { continue };
        statuses.push(Gateway::status(gw.get("/api/v1/products").bearer_auth(token)).await);
    }
    assert!(statuses[..6].iter().all(|s| s.is_success()), "{statuses:?}");
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "a new token per request still runs out: {statuses:?}"
    );
}

#[tokio::test]
async fn sign_in_routes_have_a_strict_per_ip_limit_of_their_own() {
    let gw = gateway(&[
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1"),
        ("AUTH_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    for _ in 0..3 {
        assert_eq!(gw.guest().await.0, StatusCode::CREATED);
    }
    let refused = gw.post("/api/v1/auth/guest").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&refused) >= 1);
    assert_eq!(
        gw.login(TEST_ADMIN_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "login shares the budget"
    );
    assert_eq!(
        Gateway::status(gw.get("/api/v1/products")).await,
        StatusCode::OK,
        "the rest of the API is not affected"
    );
}

#[tokio::test]
async fn failed_logins_back_off_even_for_the_right_password_until_the_wait_is_over() {
    let gw = gateway(&[]).await;
    for attempt in 0..6 {
        let response = gw.login("wrong").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let refused = gw.login(TEST_ADMIN_PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&refused);
    assert!((1..=2).contains(&wait), "{wait}");

    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    assert_eq!(gw.login(TEST_ADMIN_PASSWORD).await.status(), StatusCode::OK);
    // Success cleared the count: a wrong password is a plain 401 again.
    assert_eq!(gw.login("wrong").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_limits_each_client_apart() {
    let gw = gateway(&[
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
        ("RATE_LIMIT_PER_IP_PER_SECOND", "1"),
        ("RATE_LIMIT_PER_IP_BURST", "2"),
    ])
    .await;
    let from = |client: &str| gw.get("/api/v1/products").header("x-forwarded-for", client);
    assert_eq!(Gateway::status(from("198.51.100.1")).await, StatusCode::OK);
    assert_eq!(Gateway::status(from("198.51.100.1")).await, StatusCode::OK);
    assert_eq!(
        Gateway::status(from("198.51.100.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        Gateway::status(from("198.51.100.2")).await,
        StatusCode::OK,
        "another client behind the proxy has its own budget"
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let gw = gateway(&[
        ("RATE_LIMIT_PER_IP_PER_SECOND", "1"),
        ("RATE_LIMIT_PER_IP_BURST", "2"),
    ])
    .await;
    let from = |client: &str| gw.get("/api/v1/products").header("x-forwarded-for", client);
    assert_eq!(Gateway::status(from("198.51.100.1")).await, StatusCode::OK);
    assert_eq!(Gateway::status(from("198.51.100.2")).await, StatusCode::OK);
    assert_eq!(
        Gateway::status(from("198.51.100.3")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged header buys no budget"
    );
}

/// A raw connection to the gateway, for clients no HTTP library would be.
async fn connect(gw: &Gateway) -> tokio::net::TcpStream {
    let addr = gw.api.base.trim_start_matches("http://").to_string();
    tokio::net::TcpStream::connect(addr).await.expect("connect")
}

/// Sends a whole request and reads until the response has arrived.
async fn request_on(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream
        .write_all(b"GET /healthz-none HTTP/1.1\r\nHost: shop\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0_u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    // The body is small and follows at once.
    tokio::time::sleep(Duration::from_millis(50)).await;
    String::from_utf8_lossy(&answer).to_string()
}

/// Waits up to `within` for the peer to close `stream`; the time it took.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt as _;
    let started = std::time::Instant::now();
    let mut buf = [0_u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

#[tokio::test]
async fn a_client_sending_its_headers_one_byte_at_a_time_is_cut_off() {
    use tokio::io::AsyncWriteExt as _;
    let gw = gateway(&[("HTTP_HEADER_READ_TIMEOUT_SECONDS", "1")]).await;
    let stream = connect(&gw).await;
    let (mut reader, mut writer) = stream.into_split();
    let head = b"GET /api/v1/products HTTP/1.1\r\nHost: shop\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let trickle = tokio::spawn(async move {
        for byte in head {
            if writer.write_all(&[*byte]).await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        true
    });
    let started = std::time::Instant::now();
    let mut buf = [0_u8; 1024];
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match tokio::io::AsyncReadExt::read(&mut reader, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the slow connection is still open after 5 s"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?}, the header-read timeout is 1 s"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        !answer.contains("200 OK"),
        "a head that never completed is never served: {answer}"
    );
    trickle.abort();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let gw = gateway(&[
        ("HTTP_IDLE_TIMEOUT_SECONDS", "1"),
        ("HTTP_HEADER_READ_TIMEOUT_SECONDS", "30"),
    ])
    .await;
    let mut stream = connect(&gw).await;
    let answer = request_on(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let took = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("the idle connection is closed");
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

#[tokio::test]
async fn a_connection_past_the_limit_waits_until_another_closes() {
    let gw = gateway(&[("MAX_CONNECTIONS", "2")]).await;
    let mut first = connect(&gw).await;
    let mut second = connect(&gw).await;
    assert!(request_on(&mut first).await.starts_with("HTTP/1.1 404"));
    assert!(request_on(&mut second).await.starts_with("HTTP/1.1 404"));

    let third = tokio::spawn({
        let base = gw.api.base.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
                .await
                .expect("the kernel queues the connection");
            request_on(&mut stream).await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "the third connection was served over the limit"
    );

    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    drop(second);
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let api = Api::start_with(&[("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "3")]).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let response = api.get("/api/v1/products", None).await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response.headers().get("retry-after").cloned();
            problem(response, StatusCode::TOO_MANY_REQUESTS).await;
        }
    }
    assert!(
        statuses[..3].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert!(retry_after.is_some());
}
