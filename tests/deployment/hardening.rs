//! What the security rounds hold the deploy files to: fault control and
//! the development declaration only in development, the gateway's trusted
//! proxies, and every replica's connection budget within the server's.

use serde_norway::Value;
use shop_topology::Component;

use crate::*;

/// Every Kubernetes file outside the dev overlay, and the prod overlay's
/// kustomization: none may mention `word`.
fn assert_only_the_dev_overlay_mentions(word: &str) {
    for path in ["k8s/overlays/prod/kustomization.yaml"]
        .into_iter()
        .map(|p| repo().join(p))
        .chain(kubernetes_objects().into_iter().map(|(path, _)| path))
        .filter(|p| !p.starts_with(repo().join("k8s/overlays/dev")))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(word),
            "{}: {word} belongs to development deployments only",
            path.display()
        );
    }
}

#[test]
fn fault_control_is_on_in_the_dev_overlay_and_compose_and_nowhere_in_the_base_or_prod() {
    let dev = std::fs::read_to_string(repo().join("k8s/overlays/dev/kustomization.yaml")).unwrap();
    assert!(
        dev.contains("name: FAULTS_TOKEN"),
        "the dev overlay turns fault control on"
    );
    assert_only_the_dev_overlay_mentions("FAULTS_TOKEN");
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    for component in Component::ALL {
        let env = &compose["services"][component.name()]["environment"];
        assert!(
            env["FAULTS_TOKEN"].as_str().is_some(),
            "compose {component}: fault control on"
        );
    }
    if let Ok(rendered) = std::fs::read_to_string(repo().join("target/k8s-prod.yaml")) {
        assert!(!rendered.contains("FAULTS_TOKEN"));
    }
}

#[test]
fn only_compose_and_the_dev_overlay_declare_a_development_deployment() {
    use shop_runtime::config::{DEVELOPMENT, DEVELOPMENT_VAR};
    let dev = std::fs::read_to_string(repo().join("k8s/overlays/dev/kustomization.yaml")).unwrap();
    assert!(
        dev.contains(&format!(
            "value: {{ name: {DEVELOPMENT_VAR}, value: {DEVELOPMENT} }}"
        )),
        "the dev overlay declares itself a development deployment"
    );
    assert_only_the_dev_overlay_mentions(DEVELOPMENT_VAR);
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    for component in Component::ALL {
        let env = &compose["services"][component.name()]["environment"];
        assert_eq!(
            env[DEVELOPMENT_VAR].as_str(),
            Some(DEVELOPMENT),
            "compose {component}: a development deployment"
        );
    }
    // What kubectl renders (scripts/validate-deploy): every Deployment of
    // the dev overlay, none of prod.
    if let Ok(rendered) = std::fs::read_to_string(repo().join("target/k8s-dev.yaml")) {
        assert_eq!(
            rendered
                .matches(&format!("name: {DEVELOPMENT_VAR}"))
                .count(),
            Component::ALL.len(),
            "target/k8s-dev.yaml"
        );
    }
    if let Ok(rendered) = std::fs::read_to_string(repo().join("target/k8s-prod.yaml")) {
        assert!(!rendered.contains(DEVELOPMENT_VAR), "target/k8s-prod.yaml");
    }
}

#[test]
fn the_gateway_believes_forwarded_for_from_the_ingress_controllers_pods_only() {
    // Behind an ingress every request comes from the controller's pods; with
    // no trusted proxies the per-IP and sign-in limits would be site-wide.
    let docs = documents(&repo().join("k8s/base/gateway.yaml"));
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()
        .unwrap();
    let value = env
        .iter()
        .find(|v| v["name"] == "TRUSTED_PROXIES")
        .and_then(|v| v["value"].as_str())
        .expect("the gateway Deployment sets TRUSTED_PROXIES");
    let config = gateway::LimitsConfig::from_env(&shop_runtime::Env::from_map(
        [("TRUSTED_PROXIES".to_string(), value.to_string())].into(),
    ))
    .expect("TRUSTED_PROXIES parses");
    assert!(!config.trusted_proxies.is_empty(), "{value:?}");
    for net in &config.trusted_proxies {
        assert!(
            net.prefix_len() >= 8,
            "{net}: a pod range, never the whole internet"
        );
    }
    // The common pod range of an in-cluster ingress controller.
    let pod: std::net::IpAddr = "10.244.1.17".parse().unwrap();
    assert!(config.trusted_proxies.iter().any(|net| net.contains(&pod)));
    // Both overlays keep it (scripts/validate-deploy renders them).
    for overlay in ["dev", "prod"] {
        let path = repo().join(format!("target/k8s-{overlay}.yaml"));
        if let Ok(rendered) = std::fs::read_to_string(path) {
            assert!(rendered.contains("name: TRUSTED_PROXIES"), "{overlay}");
        }
    }
}

/// `max_connections=N` in a list of PostgreSQL arguments.
fn max_connections(args: &Value) -> u64 {
    args.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix("max_connections="))
        .and_then(|n| n.parse().ok())
        .expect("max_connections is set explicitly")
}

/// A number set by a JSON patch of the prod overlay at `path`.
fn prod_patch(path: &str) -> u64 {
    let text =
        std::fs::read_to_string(repo().join("k8s/overlays/prod/kustomization.yaml")).unwrap();
    let at = text
        .find(&format!("path: {path}"))
        .unwrap_or_else(|| panic!("the prod overlay patches {path}"));
    let value = text[at..].lines().nth(1).unwrap().trim();
    value
        .trim_start_matches("value:")
        .trim()
        .trim_matches('"')
        .parse()
        .unwrap()
}

#[test]
fn every_replica_s_connection_budget_fits_postgres_max_connections_with_headroom() {
    const HEADROOM: u64 = 20;
    let base = repo().join("k8s/base");
    let services: Vec<Component> = shop_topology::services().collect();
    let budget: u64 = documents(&base.join("config.yaml"))[0]["data"]["DB_MAX_CONNECTIONS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let max_replicas: u64 = services
        .iter()
        .map(|c| {
            let docs = documents(&base.join(format!("{}.yaml", c.name())));
            let hpa = docs
                .iter()
                .find(|d| d["kind"] == "HorizontalPodAutoscaler")
                .unwrap();
            hpa["spec"]["maxReplicas"].as_u64().unwrap()
        })
        .max()
        .unwrap();
    let postgres = documents(&base.join("postgres.yaml"));
    let statefulset = postgres
        .iter()
        .find(|d| d["kind"] == "StatefulSet")
        .unwrap();
    let server = max_connections(&statefulset["spec"]["template"]["spec"]["containers"][0]["args"]);
    let n = services.len() as u64;
    assert!(
        n * max_replicas * budget + HEADROOM <= server,
        "base: {n} × {max_replicas} × {budget} + {HEADROOM} > {server}"
    );
    let (prod_replicas, prod_budget) = (
        prod_patch("/spec/maxReplicas"),
        prod_patch("/data/DB_MAX_CONNECTIONS"),
    );
    assert!(
        n * prod_replicas * prod_budget + HEADROOM <= server,
        "prod: {n} × {prod_replicas} × {prod_budget} + {HEADROOM} > {server}"
    );
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    let compose_server = max_connections(&compose["services"]["postgres"]["command"]);
    assert!(
        n * budget + HEADROOM <= compose_server,
        "compose: {n} × {budget} + {HEADROOM} > {compose_server}"
    );
}

#[test]
fn no_pod_mounts_a_service_account_token() {
    let workloads = kubernetes_objects()
        .into_iter()
        .filter(|(_, doc)| matches!(doc["kind"].as_str(), Some("Deployment" | "StatefulSet")))
        .collect::<Vec<_>>();
    assert!(
        workloads.len() > Component::ALL.len(),
        "every component and postgres"
    );
    for (path, doc) in workloads {
        assert_eq!(
            doc["spec"]["template"]["spec"]["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{}: {}",
            path.display(),
            doc["metadata"]["name"].as_str().unwrap_or_default()
        );
    }
}
