//! Encryption in transit: with certificates configured, every component's
//! main listener speaks TLS only, every hop between them is mutual TLS
//! verified against the shop's CA, and a service answers only the
//! components the call graph lets call it. The CA is made inside the test
//! (`shop-pki`, as `shop up --tls` and `shop certs` make theirs).

mod support;

use shop_topology::Component;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use shop_pki::{Ca, Issued};
use shop_proto::product::GetProductRequest;
use shop_proto::product::product_service_client::ProductServiceClient;
use support::{TEST_ADMIN_PASSWORD, TestDb};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A throw-away CA and a certificate per component, written as PEM files
/// into a fresh directory.
struct Pki {
    dir: PathBuf,
    /// The CA, to issue more certificates.
    ca: Ca,
}

impl Pki {
    fn generate(name: &str) -> Self {
        let ca = Ca::new(&format!("{name} test CA")).unwrap();
        let dir =
            std::env::temp_dir().join(format!("shop-tls-{name}-{}", uuid::Uuid::new_v4().simple()));
        ca.write_set(&dir, &[]).unwrap();
        Self { dir, ca }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The CA's certificate, PEM.
    fn ca_pem(&self) -> &str {
        self.ca.pem()
    }

    /// The certificate and key `component` was given.
    fn issued(&self, component: Component) -> Issued {
        let read = |ext: &str| {
            std::fs::read_to_string(self.file(&format!("{}.{ext}", component.name()))).unwrap()
        };
        Issued {
            cert: read("pem"),
            key: read("key"),
        }
    }

    /// The variables that turn (mutual) TLS on for `component`.
    fn vars(&self, component: Component) -> Vec<(&'static str, String)> {
        vec![
            (
                "TLS_CERT_FILE",
                self.file(&format!("{}.pem", component.name())),
            ),
            (
                "TLS_KEY_FILE",
                self.file(&format!("{}.key", component.name())),
            ),
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

/// How a test client speaks to a gRPC port.
enum Client<'a> {
    /// Plain text.
    Plain,
    /// TLS trusting `ca`, presenting `identity` when given.
    Tls {
        ca: &'a str,
        identity: Option<&'a Issued>,
    },
}

/// A GetProduct of an unknown id at `addr`: Ok when the call reached the
/// handler (NOT_FOUND), else the error.
async fn get_product(addr: &str, client: Client<'_>) -> Result<(), tonic::Status> {
    let mut endpoint = Endpoint::from_shared(addr.to_string())
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    if let Client::Tls { ca, identity } = client {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("localhost");
        if let Some(issued) = identity {
            tls = tls.identity(Identity::from_pem(&issued.cert, &issued.key));
        }
        endpoint = endpoint.tls_config(tls).unwrap();
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("{e:?}")))?;
    ProductServiceClient::new(channel)
        .get_product(GetProductRequest {
            id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .map(|_| ())
        .or_else(|status| match status.code() {
            // The call went through; the product just does not exist.
            tonic::Code::NotFound => Ok(()),
            _ => Err(status),
        })
}

/// product-service alone, with mutual TLS.
async fn mutual_tls_product(pki: &Pki, db: &TestDb) -> shop_testkit::Running {
    let vars = pki.vars(Component::Product);
    product_service::test_util::spawn_product(db, &borrowed(&vars)).await
}

/// The JSON body of a request's answer.
async fn answer(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("HTTPS to the gateway");
    response.json().await.expect("a JSON answer")
}

#[tokio::test]
async fn with_a_certificate_every_listener_and_hop_is_tls_and_a_checkout_works() {
    let pki = Pki::generate("shop");
    let db = TestDb::new().await;
    let product = mutual_tls_product(&pki, &db).await;
    let mut addrs = vec![("PRODUCT_SERVICE_ADDR", https(product.addr))];
    let with = |component: Component, addrs: &[(&'static str, String)]| {
        let mut vars = pki.vars(component);
        vars.extend_from_slice(addrs);
        vars
    };
    let vars = with(Component::Cart, &addrs);
    let cart = cart_service::test_util::spawn_cart(&db, &product, &borrowed(&vars)).await;
    addrs.push(("CART_SERVICE_ADDR", https(cart.addr)));
    let vars = with(Component::Order, &addrs);
    let order = order_service::test_util::spawn_order(&db, &cart, &product, &borrowed(&vars)).await;
    addrs.push(("ORDER_SERVICE_ADDR", https(order.addr)));
    let vars = pki.vars(Component::Fulfillment);
    let fulfillment =
        fulfillment_service::test_util::spawn_fulfillment(&db, &borrowed(&vars)).await;
    addrs.push(("FULFILLMENT_SERVICE_ADDR", https(fulfillment.addr)));
    let vars = with(Component::Gateway, &addrs);
    let gateway = gateway::test_util::spawn_gateway(
        &[
            (Component::Product, &product),
            (Component::Cart, &cart),
            (Component::Order, &order),
            (Component::Fulfillment, &fulfillment),
        ],
        &borrowed(&vars),
    )
    .await;
    let base = format!("https://localhost:{}", gateway.addr.port());

    // A client trusting only the test CA: the whole checkout, through every hop.
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap()])
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
        cookie.starts_with("__Host-shop_session=") && cookie.contains("; Secure"),
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
        .tls_certs_only([reqwest::Certificate::from_pem(stranger.ca_pem().as_bytes()).unwrap()])
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

    // gRPC: mutual TLS with a caller's certificate works; plain text and
    // a server from a foreign CA do not.
    let gateway_cert = pki.issued(Component::Gateway);
    let as_gateway = Client::Tls {
        ca: pki.ca_pem(),
        identity: Some(&gateway_cert),
    };
    get_product(&https(product.addr), as_gateway)
        .await
        .expect("gRPC over mutual TLS");
    let plain = get_product(&format!("http://{}", product.addr), Client::Plain).await;
    assert!(plain.is_err(), "plain gRPC answered");
    let foreign = Client::Tls {
        ca: stranger.ca_pem(),
        identity: Some(&gateway_cert),
    };
    assert!(
        get_product(&https(product.addr), foreign).await.is_err(),
        "a server certificate of a foreign CA was accepted"
    );
}

#[tokio::test]
async fn under_mutual_tls_a_client_without_a_certificate_is_refused() {
    let pki = Pki::generate("bare");
    let db = TestDb::new().await;
    let product = mutual_tls_product(&pki, &db).await;
    let bare = Client::Tls {
        ca: pki.ca_pem(),
        identity: None,
    };
    let refused = get_product(&https(product.addr), bare).await;
    assert!(
        refused.is_err(),
        "a client without a certificate was answered"
    );
}

#[tokio::test]
async fn under_mutual_tls_a_client_certificate_from_another_ca_is_refused() {
    let pki = Pki::generate("home");
    let stranger = Pki::generate("stranger");
    let db = TestDb::new().await;
    let product = mutual_tls_product(&pki, &db).await;
    // It even names a component that may call product-service.
    let forged = stranger.issued(Component::Order);
    let client = Client::Tls {
        ca: pki.ca_pem(),
        identity: Some(&forged),
    };
    let refused = get_product(&https(product.addr), client).await;
    assert!(refused.is_err(), "a certificate of another CA was accepted");
}

#[tokio::test]
async fn under_mutual_tls_a_component_calling_outside_the_call_graph_is_refused() {
    let pki = Pki::generate("graph");
    let db = TestDb::new().await;
    let product = mutual_tls_product(&pki, &db).await;
    // product-service calls nobody, itself included; a certificate of the
    // shop's CA that names no component is no caller either.
    let own = pki.issued(Component::Product);
    let person = pki.ca.issue(&["alice.example", "localhost"]).unwrap();
    for (who, issued) in [("product-service", &own), ("a person", &person)] {
        let client = Client::Tls {
            ca: pki.ca_pem(),
            identity: Some(issued),
        };
        let refused = get_product(&https(product.addr), client).await.unwrap_err();
        assert_eq!(
            refused.code(),
            tonic::Code::PermissionDenied,
            "{who}: {refused:?}"
        );
    }
    // Its callers are answered.
    for caller in [Component::Cart, Component::Order, Component::Gateway] {
        let issued = pki.issued(caller);
        let client = Client::Tls {
            ca: pki.ca_pem(),
            identity: Some(&issued),
        };
        get_product(&https(product.addr), client)
            .await
            .unwrap_or_else(|e| panic!("{caller} refused: {e:?}"));
    }
}

#[tokio::test]
async fn grpc_reflection_is_off_unless_enabled() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    let db = TestDb::new().await;
    for (setting, served) in [(None, false), (Some("on"), true)] {
        let vars: Vec<(&str, &str)> = setting
            .map(|s| ("GRPC_REFLECTION", s))
            .into_iter()
            .collect();
        let product = product_service::test_util::spawn_product(&db, &vars).await;
        let channel = Endpoint::from_shared(format!("http://{}", product.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let answer = client
            .server_reflection_info(tokio_stream::once(request))
            .await;
        match answer {
            Ok(mut stream) => {
                let first = stream.get_mut().message().await;
                assert_eq!(first.is_ok(), served, "{setting:?}: {first:?}");
            }
            Err(status) => {
                assert!(!served, "{setting:?}: {status:?}");
                assert_eq!(status.code(), tonic::Code::Unimplemented);
            }
        }
    }
}

#[test]
fn half_a_key_pair_or_a_missing_file_is_a_configuration_error_naming_the_variable() {
    let pki = Pki::generate("config");
    let env = |pairs: &[(&str, &str)]| support::env(pairs);
    let cert = pki.file("product-service.pem");
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
    let key = pki.file("product-service.key");
    let ok = shop_runtime::config::Tls::from_env(&env(&[
        ("TLS_CERT_FILE", &cert),
        ("TLS_KEY_FILE", &key),
    ]))
    .unwrap();
    assert!(ok.serves_tls());
}
