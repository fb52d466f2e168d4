//! docker compose, Kubernetes and design.md agree on ports, gRPC service
//! names and variable names, and match what the code uses. Static: no
//! container engine or cluster needed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_norway::Value;

/// (component, main port, admin port, gRPC service name or "" for HTTP)
const COMPONENTS: [(&str, u16, u16, &str); 4] = [
    (
        "product-service",
        product_service::DEFAULT_PORT,
        product_service::DEFAULT_ADMIN_PORT,
        product_service::SERVICE_NAME,
    ),
    (
        "cart-service",
        cart_service::DEFAULT_PORT,
        cart_service::DEFAULT_ADMIN_PORT,
        cart_service::SERVICE_NAME,
    ),
    (
        "order-service",
        order_service::DEFAULT_PORT,
        order_service::DEFAULT_ADMIN_PORT,
        order_service::SERVICE_NAME,
    ),
    (
        "gateway",
        gateway::DEFAULT_PORT,
        gateway::DEFAULT_ADMIN_PORT,
        "",
    ),
];

/// Every variable a component reads: design.md's list plus each service's own.
const KNOWN_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "PRODUCT_SERVICE_ADDR",
    "CART_SERVICE_ADDR",
    "ORDER_SERVICE_ADDR",
    "LISTEN_ADDR",
    "ADMIN_ADDR",
    "AUTH_SECRET",
    "ADMIN_PASSWORD",
    "RATE_LIMIT_PER_SECOND",
    "RATE_LIMIT_BURST",
    "SHUTDOWN_GRACE_SECONDS",
    "RUST_LOG",
    "LOG_FORMAT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    // Service-specific, documented in the README.
    "REQUEST_TIMEOUT_SECONDS",
    "PAGE_TOKEN_SECRET",
    "DOWNSTREAM_TIMEOUT_MILLIS",
    "RESERVATION_TTL_SECONDS",
    "RESERVATION_SWEEP_MILLIS",
    "SEED_DEMO_CATALOG",
    "RECOVERY_HORIZON_SECONDS",
    "RECOVERY_INTERVAL_MILLIS",
    "MAX_CONCURRENT_REQUESTS",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let mut value =
                Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            value.apply_merge().unwrap();
            value
        })
        .collect()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("no port in {addr}"))
}

fn expected_port_of_addr_var(var: &str) -> Option<u16> {
    match var {
        "PRODUCT_SERVICE_ADDR" => Some(product_service::DEFAULT_PORT),
        "CART_SERVICE_ADDR" => Some(cart_service::DEFAULT_PORT),
        "ORDER_SERVICE_ADDR" => Some(order_service::DEFAULT_PORT),
        _ => None,
    }
}

#[test]
fn compose_uses_the_design_ports_and_only_known_variables() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    for (name, port, admin, _) in COMPONENTS {
        let env = compose["services"][name]["environment"]
            .as_mapping()
            .unwrap_or_else(|| panic!("compose service {name} has an environment"));
        let mut seen = BTreeSet::new();
        for (key, value) in env {
            let key = key.as_str().unwrap();
            let value = value.as_str().unwrap_or_default();
            seen.insert(key);
            assert!(
                KNOWN_VARIABLES.contains(&key),
                "compose {name}: unknown variable {key}"
            );
            match key {
                "LISTEN_ADDR" => assert_eq!(port_of(value), port, "compose {name} {key}"),
                "ADMIN_ADDR" => assert_eq!(port_of(value), admin, "compose {name} {key}"),
                _ => {}
            }
            if let Some(expected) = expected_port_of_addr_var(key) {
                assert_eq!(port_of(value), expected, "compose {name} {key}");
            }
        }
        assert!(
            seen.contains("LISTEN_ADDR") && seen.contains("ADMIN_ADDR"),
            "compose {name}"
        );
        let health = format!("{:?}", compose["services"][name]["healthcheck"]["test"]);
        assert!(
            health.contains("healthcheck"),
            "compose {name} probes itself: {health}"
        );
    }
}

#[test]
fn kubernetes_uses_the_design_ports_probes_and_only_known_variables() {
    let base = repo().join("k8s/base");
    let config = &documents(&base.join("config.yaml"))[0];
    for (key, value) in config["data"].as_mapping().unwrap() {
        let key = key.as_str().unwrap();
        assert!(
            KNOWN_VARIABLES.contains(&key),
            "ConfigMap: unknown variable {key}"
        );
        if let Some(expected) = expected_port_of_addr_var(key) {
            assert_eq!(
                port_of(value.as_str().unwrap()),
                expected,
                "ConfigMap {key}"
            );
        }
    }
    for (name, port, admin, grpc_service) in COMPONENTS {
        let docs = documents(&base.join(format!("{name}.yaml")));
        let service = docs.iter().find(|d| d["kind"] == "Service").unwrap();
        let ports: BTreeSet<u64> = service["spec"]["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ports,
            BTreeSet::from([u64::from(port), u64::from(admin)]),
            "Service {name}"
        );
        if !grpc_service.is_empty() {
            assert_eq!(
                service["spec"]["clusterIP"], "None",
                "gRPC Service {name} is headless"
            );
        }

        let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let container_ports: BTreeSet<u64> = container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p["containerPort"].as_u64().unwrap())
            .collect();
        assert_eq!(
            container_ports,
            BTreeSet::from([u64::from(port), u64::from(admin)]),
            "Deployment {name}"
        );
        for var in container["env"].as_sequence().unwrap() {
            let key = var["name"].as_str().unwrap();
            assert!(
                KNOWN_VARIABLES.contains(&key),
                "Deployment {name}: unknown variable {key}"
            );
            if key == "LISTEN_ADDR" {
                assert_eq!(
                    port_of(var["value"].as_str().unwrap()),
                    port,
                    "Deployment {name}"
                );
            }
            if key == "ADMIN_ADDR" {
                assert_eq!(
                    port_of(var["value"].as_str().unwrap()),
                    admin,
                    "Deployment {name}"
                );
            }
        }
        if !grpc_service.is_empty() {
            let readiness = &container["readinessProbe"]["grpc"];
            assert_eq!(
                readiness["port"].as_u64(),
                Some(u64::from(port)),
                "{name} readiness port"
            );
            assert_eq!(
                readiness["service"].as_str(),
                Some(grpc_service),
                "{name} readiness service"
            );
            assert_eq!(
                container["livenessProbe"]["grpc"]["service"].as_str(),
                Some(shop_runtime::grpc::LIVENESS),
                "{name} liveness"
            );
        }
        let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap();
        assert!(
            grace >= 10 + 5,
            "{name}: grace covers preStop and the 10 s drain"
        );
    }
}

#[test]
fn the_design_ports_table_matches_the_code() {
    let design = repo().join("../shared/design.md");
    let Ok(text) = std::fs::read_to_string(&design) else {
        // The design folder lives beside the repository (CI has it); a bare clone has not.
        eprintln!(
            "{} not found: compose and Kubernetes were checked against the code only",
            design.display()
        );
        return;
    };
    for (name, port, admin, _) in COMPONENTS {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("design.md has a row for {name}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(
            cells[3].parse::<u16>().unwrap(),
            port,
            "design.md port of {name}"
        );
        assert_eq!(
            cells[4].parse::<u16>().unwrap(),
            admin,
            "design.md admin port of {name}"
        );
    }
}
