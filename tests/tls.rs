//! Encryption in transit: with a certificate configured, every component's
//! main listener speaks TLS only and every hop between them is TLS verified
//! against the configured CA. The CA is generated inside the test.

mod support;

use shop_topology::Component;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use shop_proto::product::GetProductRequest;
use shop_proto::product::product_service_client::ProductServiceClient;
use support::{TEST_ADMIN_PASSWORD, TestDb};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// A throw-away CA and a server certificate it signed for `localhost` and
/// 127.0.0.1, written as PEM files into a fresh directory.
struct Pki {
    dir: PathBuf,
    /// The CA certificate, PEM.
    ca: String,
}

impl Pki {
    fn generate(name: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer).unwrap();

        let dir =
            std::env::temp_dir().join(format!("shop-tls-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        Self { dir, ca: ca.pem() }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The variables that turn TLS on for a component.
    fn vars(&self) -> [(&'static str, String); 3] {
        [
            ("TLS_CERT_FILE", self.file("cert.pem")),
            ("TLS_KEY_FILE", self.file("key.pem")),
            ("TLS_CA_FILE", self.file("ca.pem")),
        ]
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn https(addr: std::net::SocketAddr) -> String {
    format!("https://{addr}")
}

fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn grpc_health(addr: &str, tls: Option<&str>) -> Result<(), String> {
    let mut endpoint = Endpoint::from_shared(addr.to_string())
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    if let Some(ca) = tls {
        endpoint = endpoint
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(ca))
                    .domain_name("localhost"),
            )
            .unwrap();
    }
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    ProductServiceClient::new(channel)
        .get_product(GetProductRequest {
            id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .map(|_| ())
        .or_else(|status| match status.code() {
            // The call went through; the product just does not exist.
            tonic::Code::NotFound => Ok(()),
            _ => Err(format!("{status:?}")),
        })
}

/// The JSON body of a request's answer.
async fn answer(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("HTTPS to the gateway");
    response.json().await.expect("a JSON answer")
}

#[tokio::test]
async fn with_a_certificate_every_listener_and_hop_is_tls_and_a_checkout_works() {
    let pki = Pki::generate("shop");
    let tls = pki.vars();
    let db = TestDb::new().await;
    let product = product_service::test_util::spawn_product(&db, &borrowed(&tls)).await;
    let mut vars = tls.to_vec();
    vars.push(("PRODUCT_SERVICE_ADDR", https(product.addr)));
    let cart = cart_service::test_util::spawn_cart(&db, &product, &borrowed(&vars)).await;
    vars.push(("CART_SERVICE_ADDR", https(cart.addr)));
    let order = order_service::test_util::spawn_order(&db, &cart, &product, &borrowed(&vars)).await;
    vars.push(("ORDER_SERVICE_ADDR", https(order.addr)));
    let gateway = gateway::test_util::spawn_gateway(
        &[
            (Component::Product, &product),
            (Component::Cart, &cart),
            (Component::Order, &order),
        ],
        &borrowed(&vars),
    )
    .await;
    let base = format!("https://localhost:{}", gateway.addr.port());

    // A client trusting only the test CA: the whole checkout, through every hop.
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca.as_bytes()).unwrap()])
        .resolve("localhost", gateway.addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let login = answer(
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": TEST_ADMIN_PASSWORD})),
    )
    .await;
    let product_body = answer(
        client
            .post(format!("{base}/api/v1/products"))
            .bearer_auth(login["token"].as_str().unwrap())
            .json(
                &json!({"sku": "TLS-1", "name": "Sealed", "description": "", "category": "test",
                          "unit_price_cents": 500, "currency": "USD", "available": 3}),
            ),
    )
    .await;
    let guest = answer(client.post(format!("{base}/api/v1/auth/guest"))).await;
    let token = guest["token"].as_str().unwrap();
    let added = client
        .post(format!("{base}/api/v1/cart/items"))
        .bearer_auth(token)
        .json(&json!({"product_id": product_body["id"], "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200, "gateway → cart → product over TLS");
    let placed = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(token)
        .header("Idempotency-Key", "tls-checkout")
        .send()
        .await
        .unwrap();
    assert_eq!(
        placed.status(),
        201,
        "gateway → order → cart, product over TLS"
    );
    let order_body: Value = placed.json().await.unwrap();
    assert_eq!(order_body["status"], "CONFIRMED");
    assert_eq!(order_body["total_cents"], 1000);

    // Over HTTPS the storefront's session cookie is never sent in the clear.
    let home = client.get(format!("{base}/")).send().await.unwrap();
    let cookie = home.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("shop_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );

    // Plain HTTP to the gateway's port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/api/v1/products", gateway.addr))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");

    // A client trusting another CA is refused.
    let stranger = Pki::generate("stranger");
    let untrusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(stranger.ca.as_bytes()).unwrap()])
        .resolve("localhost", gateway.addr)
        .build()
        .unwrap();
    let refused = untrusting
        .get(format!("{base}/api/v1/products"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a certificate from an unknown CA was accepted"
    );

    // gRPC: TLS with the CA works; plain text and a foreign CA do not.
    grpc_health(&https(product.addr), Some(&pki.ca))
        .await
        .expect("gRPC over TLS");
    let plain = grpc_health(&format!("http://{}", product.addr), None).await;
    assert!(plain.is_err(), "plain gRPC answered");
    let foreign = grpc_health(&https(product.addr), Some(&stranger.ca)).await;
    assert!(foreign.is_err(), "a foreign CA was accepted");
}

#[test]
fn half_a_key_pair_or_a_missing_file_is_a_configuration_error_naming_the_variable() {
    let pki = Pki::generate("config");
    let env = |pairs: &[(&str, &str)]| support::env(pairs);
    let cert = pki.file("cert.pem");
    let error = shop_runtime::config::Tls::from_env(&env(&[("TLS_CERT_FILE", &cert)])).unwrap_err();
    assert_eq!(error.var, "TLS_KEY_FILE");
    let missing = Path::new(&pki.dir).join("absent.pem").display().to_string();
    let error = shop_runtime::config::Tls::from_env(&env(&[
        ("TLS_CERT_FILE", &cert),
        ("TLS_KEY_FILE", &missing),
    ]))
    .unwrap_err();
    assert_eq!(error.var, "TLS_KEY_FILE");
    assert!(error.message.contains("cannot read"), "{}", error.message);
    let not_pem = pki.file("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let error =
        shop_runtime::config::Tls::from_env(&env(&[("TLS_CA_FILE", &not_pem)])).unwrap_err();
    assert_eq!(error.var, "TLS_CA_FILE");
    let key = pki.file("key.pem");
    let ok = shop_runtime::config::Tls::from_env(&env(&[
        ("TLS_CERT_FILE", &cert),
        ("TLS_KEY_FILE", &key),
    ]))
    .unwrap();
    assert!(ok.serves_tls());
}
