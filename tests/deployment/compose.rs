//! docker-compose.yml: design ports, known variables, health checks, admin ports on loopback only, the order components start in.

use std::collections::BTreeSet;

use shop_topology::Component;

use crate::*;

#[test]
fn compose_uses_the_design_ports_and_only_known_variables() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    for (name, port, admin, _) in components() {
        let env = compose["services"][name]["environment"]
            .as_mapping()
            .unwrap_or_else(|| panic!("compose service {name} has an environment"));
        let mut seen = BTreeSet::new();
        for (key, value) in env {
            let key = key.as_str().unwrap();
            let value = value.as_str().unwrap_or_default();
            seen.insert(key);
            assert!(
                documented_variables().contains(key),
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
fn compose_s_prometheus_loads_the_slo_rules_it_mounts() {
    let config = std::fs::read_to_string(repo().join("deploy/prometheus/prometheus.yml")).unwrap();
    assert!(
        config.contains("/etc/prometheus/slo-rules.yml"),
        "rule_files names the rules"
    );
    let compose = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    assert!(
        compose.contains("./deploy/prometheus/slo-rules.yml:/etc/prometheus/slo-rules.yml"),
        "compose mounts the rules where prometheus.yml reads them"
    );
}

#[test]
fn compose_publishes_every_admin_port_on_the_host_s_loopback_only() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    for (name, _, admin, _) in components() {
        let ports = format!("{:?}", compose["services"][name]["ports"]);
        assert!(
            ports.contains(&format!("127.0.0.1:{admin}:{admin}")),
            "compose {name}: `shop faults` reaches its admin port {admin} on the host's loopback: {ports}"
        );
        assert!(
            !ports.contains(&format!("\"{admin}:{admin}\"")),
            "compose {name}: the admin port is never published on every interface"
        );
    }
}

#[test]
fn compose_starts_each_component_after_the_ones_it_calls_and_its_database() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    for component in Component::ALL {
        let spec = component.spec();
        let depends = &compose["services"][spec.name]["depends_on"];
        let mut waits_for: Vec<&str> = spec.calls.iter().map(|c| c.name()).collect();
        if spec.database.is_some() {
            waits_for.push("postgres");
        }
        for dependency in waits_for {
            assert_eq!(
                depends[dependency]["condition"], "service_healthy",
                "compose {component} waits for {dependency} to be healthy"
            );
        }
    }
}

#[test]
fn the_dockerfile_builds_and_prometheus_scrapes_every_component() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let prometheus =
        std::fs::read_to_string(repo().join("deploy/prometheus/prometheus.yml")).unwrap();
    for component in Component::ALL {
        let spec = component.spec();
        assert!(
            dockerfile.contains(&format!("FROM runtime AS {}\n", spec.name)),
            "Dockerfile: a `{0}` target (`docker build --target {0}`)",
            spec.name
        );
        assert!(
            dockerfile.contains(&format!("target/release/{} ", spec.name)),
            "Dockerfile: the builder copies the {} binary out",
            spec.name
        );
        assert!(
            prometheus.contains(&format!("\"{}:{}\"", spec.name, spec.admin_port)),
            "deploy/prometheus/prometheus.yml scrapes {}:{}",
            spec.name,
            spec.admin_port
        );
    }
}

#[test]
fn every_service_role_has_a_development_password_and_a_kubernetes_password() {
    let dev = std::fs::read_to_string(repo().join("db/dev-passwords.sql")).unwrap();
    let k8s = std::fs::read_to_string(repo().join("k8s/base/postgres-passwords.sh")).unwrap();
    for role in shop_topology::service_roles() {
        let line = format!("ALTER ROLE {role} PASSWORD '");
        assert!(
            dev.contains(&line),
            "db/dev-passwords.sql sets {role}'s password"
        );
        assert!(
            k8s.contains(&line),
            "k8s/base/postgres-passwords.sh sets {role}'s password"
        );
    }
}

#[test]
fn compose_publishes_every_port_on_the_host_s_loopback_unless_told_otherwise() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    for (name, service) in compose["services"].as_mapping().unwrap() {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let port = port.as_str().unwrap();
            assert!(
                port.starts_with("127.0.0.1:")
                    || port.starts_with("${SHOP_PUBLISH_ADDR:-127.0.0.1}:"),
                "compose {name:?}: {port} is published on every interface"
            );
        }
    }
}

#[test]
fn compose_pins_grafana_to_a_release_fixed_for_cve_2025_4123() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    let image = compose["services"]["grafana"]["image"].as_str().unwrap();
    let version = image
        .strip_prefix("grafana/grafana:")
        .expect("the upstream image, pinned");
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
    // Fixed in 12.0.1 (and the 11.x security releases): 11.4.0 was not.
    assert!(parts.len() == 3 && parts >= vec![12, 0, 1], "{image}");
}

#[test]
fn compose_s_tls_file_gives_every_component_its_own_certificate_and_https_addresses() {
    let tls = &documents(&repo().join("deploy/compose.tls.yaml"))[0];
    for component in Component::ALL {
        let spec = component.spec();
        let env = &tls["services"][spec.name]["environment"];
        assert_eq!(
            env["TLS_CERT_FILE"],
            format!("/certs/{}.pem", spec.name).as_str()
        );
        assert_eq!(
            env["TLS_KEY_FILE"],
            format!("/certs/{}.key", spec.name).as_str()
        );
        assert_eq!(env["TLS_CA_FILE"], "/certs/ca.pem");
        for called in spec.calls {
            let callee = called.spec();
            let var = callee.addr_var.unwrap();
            assert_eq!(
                env[var],
                format!("https://{}:{}", callee.name, callee.port).as_str(),
                "{}: {var}",
                spec.name
            );
        }
    }
}

#[test]
fn compose_starts_the_core_alone_and_the_observability_layer_under_its_profile() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    // docker-compose 1.29 refuses a top-level `name:`; .env names the
    // project for every compose instead.
    assert!(
        compose["name"].is_null(),
        "docker-compose.yml: no top-level `name:` (docker-compose 1.29 refuses it)"
    );
    let env = std::fs::read_to_string(repo().join(".env")).unwrap();
    assert!(
        env.lines().any(|l| l.trim() == "COMPOSE_PROJECT_NAME=shop"),
        ".env names the compose project `shop`"
    );
    let observability = ["otel-collector", "jaeger", "prometheus", "grafana"];
    let mut core = Vec::new();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let profiles: Vec<&str> = service["profiles"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str())
            .collect();
        if observability.contains(&name) {
            assert_eq!(
                profiles,
                ["observability"],
                "compose {name}: the observability layer"
            );
        } else if name == "loadtest" {
            assert_eq!(profiles, ["load"], "compose {name}: started on demand");
        } else {
            assert!(
                profiles.is_empty(),
                "compose {name}: the core, which starts alone"
            );
            for (dependency, _) in service["depends_on"].as_mapping().into_iter().flatten() {
                let dependency = dependency.as_str().unwrap();
                assert!(
                    !observability.contains(&dependency),
                    "compose {name}: the core waits for nothing of the observability layer ({dependency})"
                );
            }
            core.push(name);
        }
    }
    core.sort_unstable();
    let mut expected: Vec<&str> = components().map(|(name, ..)| name).collect();
    expected.extend(["postgres", "nats"]);
    expected.sort_unstable();
    assert_eq!(
        core, expected,
        "the core: PostgreSQL, the event broker and every component"
    );
}

#[test]
fn compose_runs_the_event_broker_with_jetstream_on_a_volume_for_the_services() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    let nats = &compose["services"]["nats"];
    let image = nats["image"].as_str().unwrap();
    let version = image
        .strip_prefix("nats:")
        .expect("the official image, pinned");
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "compose nats: a pinned release, not {image}"
    );
    let command: Vec<&str> = nats["command"]
        .as_sequence()
        .expect("compose nats: a command")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        command.contains(&"--jetstream"),
        "compose nats: {command:?}"
    );
    let store = command
        .iter()
        .position(|a| *a == "--store_dir")
        .map(|i| command[i + 1])
        .expect("compose nats: --store_dir");
    let volumes = format!("{:?}", nats["volumes"]);
    assert!(
        volumes.contains(&format!("natsdata:{store}")),
        "compose nats: the store on the named volume: {volumes}"
    );
    assert!(
        compose["volumes"]
            .as_mapping()
            .is_some_and(|v| v.iter().any(|(k, _)| k.as_str() == Some("natsdata"))),
        "a top-level volume natsdata"
    );
    assert_eq!(
        format!("{:?}", nats["ports"])
            .matches("127.0.0.1:4222:4222")
            .count(),
        1,
        "compose nats: the client port on this host's loopback only, for `shop events`"
    );
    // Every service with an outbox or a consumer talks to it; the gateway
    // has neither.
    for name in shop_topology::services().map(Component::name) {
        let service = &compose["services"][name];
        assert_eq!(
            service["environment"]["NATS_URL"], "nats://nats:4222",
            "compose {name}: NATS_URL"
        );
        assert_eq!(
            service["depends_on"]["nats"]["condition"], "service_started",
            "compose {name}: started after the broker (not waiting for it: its \
             relay and consumers connect whenever it answers)"
        );
    }
}
