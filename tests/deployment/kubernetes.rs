//! The Kubernetes base and overlays: ports, probes, drain, secrets references, the network policies against the call graph.

use std::collections::BTreeSet;

use serde_norway::Value;
use shop_topology::Component;

use crate::*;

#[test]
fn kubernetes_uses_the_design_ports_probes_and_only_known_variables() {
    let base = repo().join("k8s/base");
    let config = &documents(&base.join("config.yaml"))[0];
    for (key, value) in config["data"].as_mapping().unwrap() {
        let key = key.as_str().unwrap();
        assert!(
            documented_variables().contains(key),
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
    for (name, port, admin, grpc_service) in components() {
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
                documented_variables().contains(key),
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
                Some(shop_runtime::server::LIVENESS),
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
fn the_prod_overlay_creates_no_secret_and_holds_no_placeholder() {
    // `kubectl apply -k k8s/overlays/prod` must neither create a Secret of
    // public values nor overwrite the real `shop-secrets` made beforehand.
    let mut files = Vec::new();
    kustomization_files(&repo().join("k8s/overlays/prod"), &mut files);
    assert!(files.len() > 5, "{files:?}");
    let mut references = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // What the file sets; comments may explain placeholders.
        let text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !text.contains("CHANGE-ME") && !text.contains("development value"),
            "{}: a placeholder or development value in the prod overlay",
            file.display()
        );
        references += text.matches("name: shop-secrets").count();
        if file.extension().is_some_and(|e| e == "yaml") {
            for object in documents(file) {
                assert_ne!(
                    object["kind"],
                    "Secret",
                    "{}: the prod overlay creates a Secret",
                    file.display()
                );
            }
        }
    }
    assert!(
        references >= 5,
        "every component reads shop-secrets ({references} references)"
    );
    // The same holds for what kubectl renders (scripts/validate-deploy,
    // which runs before the tests in scripts/test).
    if let Ok(rendered) = std::fs::read_to_string(repo().join("target/k8s-prod.yaml")) {
        assert!(!rendered.contains("CHANGE-ME") && !rendered.contains("\nkind: Secret\n"));
    }
}

#[test]
fn every_service_reads_the_page_token_secret_from_the_secret_in_kubernetes_and_compose() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    for name in shop_topology::services().map(Component::name) {
        let docs = documents(&repo().join(format!("k8s/base/{name}.yaml")));
        let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
        let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .unwrap();
        let var = env
            .iter()
            .find(|v| v["name"] == "PAGE_TOKEN_SECRET")
            .unwrap_or_else(|| panic!("{name}: PAGE_TOKEN_SECRET is set"));
        assert_eq!(
            var["valueFrom"]["secretKeyRef"]["name"], "shop-secrets",
            "{name}"
        );
        let value = compose["services"][name]["environment"]["PAGE_TOKEN_SECRET"]
            .as_str()
            .unwrap_or_else(|| panic!("compose {name}: PAGE_TOKEN_SECRET is set"));
        assert!(value.len() >= 32, "compose {name}: a 32-byte key");
    }
}

/// The `app.kubernetes.io/name` of every pod a list of peers selects.
fn selected_pods(peers: &Value) -> BTreeSet<String> {
    peers
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|rule| {
            let peers = rule.get("to").or_else(|| rule.get("from"));
            peers
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|peer| {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

#[test]
fn the_network_policies_allow_exactly_the_call_graph() {
    let policies = documents(&repo().join("k8s/base/network-policies.yaml"));
    let policy = |name: &str| {
        policies
            .iter()
            .find(|p| p["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("k8s/base/network-policies.yaml has a NetworkPolicy {name}"))
    };
    for component in Component::ALL {
        let spec = component.spec();
        let mut calls: BTreeSet<String> = spec.calls.iter().map(|c| c.name().to_string()).collect();
        if spec.database.is_some() {
            calls.insert("postgres".into());
        }
        let own = policy(spec.name);
        assert_eq!(
            selected_pods(&own["spec"]["egress"]),
            calls,
            "{component}: egress"
        );
        if spec.grpc_service.is_some() {
            let callers: BTreeSet<String> = Component::ALL
                .into_iter()
                .filter(|c| c.spec().calls.contains(&component))
                .map(|c| c.name().to_string())
                .collect();
            assert_eq!(
                selected_pods(&own["spec"]["ingress"]),
                callers,
                "{component}: ingress"
            );
        }
    }
    let database_users: BTreeSet<String> = Component::ALL
        .into_iter()
        .filter(|c| c.spec().database.is_some())
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(
        selected_pods(&policy("postgres")["spec"]["ingress"]),
        database_users,
        "postgres: ingress"
    );
    let scraped: BTreeSet<u64> = policy("allow-metrics-scrape")["spec"]["ingress"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["ports"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|port| port["port"].as_u64())
        .collect();
    for component in Component::ALL {
        let port = component.spec().admin_port;
        assert!(
            scraped.contains(&u64::from(port)),
            "allow-metrics-scrape admits {component}'s admin port {port}"
        );
    }
}

#[test]
fn every_component_may_export_traces_to_a_collector_and_nowhere_else_beyond_its_calls() {
    let policies = documents(&repo().join("k8s/base/network-policies.yaml"));
    let otlp = policies
        .iter()
        .find(|p| p["metadata"]["name"] == "allow-otlp-export")
        .expect("a NetworkPolicy allow-otlp-export");
    assert_eq!(
        otlp["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/part-of"],
        "shop"
    );
    let rules = otlp["spec"]["egress"].as_sequence().unwrap();
    assert_eq!(rules.len(), 1, "one rule");
    assert_eq!(
        selected_pods(&otlp["spec"]["egress"]),
        BTreeSet::from(["opentelemetry-collector".to_string()]),
        "to the collector only"
    );
    let to = &rules[0]["to"][0];
    assert!(
        to["namespaceSelector"]["matchLabels"]["shop.dev/monitoring"] == "true",
        "in the monitoring namespace only: {to:?}"
    );
    let ports: BTreeSet<u64> = rules[0]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p["port"].as_u64())
        .collect();
    assert_eq!(ports, BTreeSet::from([4317, 4318]), "OTLP ports only");
    // Kustomize puts the label it selects on every pod template.
    let kustomization = &documents(&repo().join("k8s/base/kustomization.yaml"))[0];
    let labels = &kustomization["labels"][0];
    assert_eq!(labels["pairs"]["app.kubernetes.io/part-of"], "shop");
    assert_eq!(labels["includeTemplates"], true);
}

#[test]
fn every_deployment_loads_the_shared_config_map_which_holds_every_service_address() {
    let base = repo().join("k8s/base");
    let config = &documents(&base.join("config.yaml"))[0]["data"];
    for component in Component::ALL {
        let spec = component.spec();
        if let Some(var) = spec.addr_var {
            assert_eq!(
                config[var].as_str().map(port_of),
                Some(spec.port),
                "ConfigMap shop-config: {var}"
            );
        }
        let docs = documents(&base.join(format!("{}.yaml", spec.name)));
        let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["envFrom"][0]["configMapRef"]["name"], "shop-config",
            "{component}: envFrom the shared ConfigMap, so a new address reaches every caller"
        );
    }
}

#[test]
fn the_mtls_component_gives_every_component_a_certificate_naming_it_and_wires_it() {
    let dir = repo().join("k8s/components/mtls");
    let objects = documents(&dir.join("certificates.yaml"));
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    for component in Component::ALL {
        let name = component.spec().name;
        let cert = objects
            .iter()
            .find(|o| o["kind"] == "Certificate" && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("a Certificate for {name}"));
        assert_eq!(
            cert["spec"]["dnsNames"][0], name,
            "{name}: its identity first"
        );
        assert_eq!(cert["spec"]["secretName"], format!("{name}-tls").as_str());
        assert_eq!(cert["spec"]["issuerRef"]["name"], "shop-ca", "{name}");
        let usages = format!("{:?}", cert["spec"]["usages"]);
        assert!(
            usages.contains("server auth") && usages.contains("client auth"),
            "{name}: {usages}"
        );
        assert!(
            kustomization.contains(&format!("{{ kind: Deployment, name: {name} }}"))
                && kustomization.contains(&format!("secretName: {name}-tls")),
            "{name}'s Deployment mounts its certificate"
        );
        if let Some(var) = component.spec().addr_var {
            assert!(
                kustomization.contains(&format!(
                    "/data/{var}, value: \"https://{name}:{}\"",
                    component.spec().port
                )),
                "{var} becomes https://"
            );
        }
    }
    for var in ["TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"] {
        assert_eq!(
            kustomization.matches(var).count(),
            Component::ALL.len(),
            "every Deployment sets {var}"
        );
    }
    let prod =
        std::fs::read_to_string(repo().join("k8s/overlays/prod/kustomization.yaml")).unwrap();
    assert!(
        prod.contains("../../components/mtls"),
        "prod runs mutual TLS"
    );
}

#[test]
fn the_broker_is_reached_by_the_four_services_only_and_runs_three_in_prod() {
    let policies = documents(&repo().join("k8s/base/network-policies.yaml"));
    let policy = |name: &str| {
        policies
            .iter()
            .find(|p| p["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("a NetworkPolicy {name}"))
            .clone()
    };
    let services: BTreeSet<String> = shop_topology::services()
        .map(|c| c.name().to_string())
        .collect();
    let nats = policy("nats");
    let clients: BTreeSet<String> =
        selected_pods(&Value::Sequence(vec![nats["spec"]["ingress"][0].clone()]));
    assert_eq!(clients, services, "who may reach the broker's client port");
    let selected: BTreeSet<String> =
        policy("nats-clients")["spec"]["podSelector"]["matchExpressions"][0]["values"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
    assert_eq!(selected, services, "whose egress reaches the broker");
    let config = &documents(&repo().join("k8s/base/config.yaml"))[0];
    assert_eq!(config["data"]["NATS_URL"], "nats://nats:4222");
    let prod =
        std::fs::read_to_string(repo().join("k8s/overlays/prod/kustomization.yaml")).unwrap();
    let at = prod
        .find("name: nats }")
        .expect("the prod overlay patches the broker");
    assert!(prod[at..].contains("value: 3"), "three servers in prod");
}
