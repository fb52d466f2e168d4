//! docker compose, Kubernetes and docs/contract.md agree on ports, gRPC service
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

/// Every variable the contract documents: each `` `NAME` `` in
/// docs/contract.md written in capitals (`FAULTS`, `DATABASE_URL`).
fn documented_variables() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join("docs/contract.md")).expect("docs/contract.md");
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| {
            name.len() > 1
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// Every variable the components' code reads through `Env`: the literal
/// first argument of `get`, `parse_or`, `seconds_or`, `secret` and
/// `signing_key` in the Rust sources of `folders`.
fn variables_read_by_code(folders: &[&str]) -> BTreeSet<String> {
    let mut read = BTreeSet::new();
    let mut dirs: Vec<PathBuf> = folders.iter().map(|f| repo().join(f)).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for method in ["get", "parse_or", "seconds_or", "secret", "signing_key"] {
                for (at, _) in text.match_indices(&format!("env.{method}(")) {
                    let rest = text[at + method.len() + 5..].trim_start();
                    if let Some(literal) = rest.strip_prefix('"') {
                        let name = &literal[..literal.find('"').unwrap()];
                        if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                            read.insert(name.to_string());
                        }
                    }
                }
            }
        }
    }
    read
}

#[test]
fn every_variable_the_code_reads_is_in_the_contract() {
    let read = variables_read_by_code(&["crates/runtime/src", "services", "gateway/src", "src"]);
    assert!(read.len() > 20, "the scan finds the variables: {read:?}");
    let documented = documented_variables();
    let missing: Vec<&String> = read.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "read by the code, missing from docs/contract.md: {missing:?}"
    );
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
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
fn the_contract_ports_table_matches_the_code() {
    let contract = repo().join("docs/contract.md");
    let text = std::fs::read_to_string(&contract)
        .unwrap_or_else(|e| panic!("{}: {e}", contract.display()));
    for (name, port, admin, _) in COMPONENTS {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("docs/contract.md has a ports row for {name}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(
            cells[3].parse::<u16>().unwrap(),
            port,
            "docs/contract.md port of {name}"
        );
        assert_eq!(
            cells[4].parse::<u16>().unwrap(),
            admin,
            "docs/contract.md admin port of {name}"
        );
    }
}

/// A variable or key that holds a credential.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase().replace('-', "_");
    ["PASSWORD", "SECRET", "DATABASE_URL", "TOKEN", "PRIVATE_KEY"]
        .iter()
        .any(|marker| name.contains(marker))
}

/// Every YAML object under `k8s/`, with the file it came from.
fn kubernetes_objects() -> Vec<(PathBuf, Value)> {
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("k8s")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .flat_map(|file| {
            documents(&file)
                .into_iter()
                .map(move |doc| (file.clone(), doc))
        })
        .collect()
}

/// Collects every `env` entry (name, has an inline `value`) in `value`.
fn env_entries(value: &Value, found: &mut Vec<(String, bool)>) {
    match value {
        Value::Mapping(map) => {
            if let Some(Value::Sequence(env)) = map.get("env") {
                for entry in env {
                    let name = entry["name"].as_str().unwrap_or_default().to_string();
                    found.push((name, entry.get("value").is_some()));
                }
            }
            for (_, v) in map {
                env_entries(v, found);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| env_entries(v, found)),
        _ => {}
    }
}

#[test]
fn credentials_appear_only_as_marked_development_values_placeholders_or_secret_references() {
    // Compose: each credential is a literal marked as a development value.
    let compose = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let mut compose_credentials = 0;
    for line in compose.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            // Not a `KEY: value` line (a list item, a mount).
            continue;
        }
        let value = value.split('#').next().unwrap_or_default().trim();
        let embeds_password = value.contains("://") && value.contains('@');
        if value.is_empty() || !(is_secret_name(key) || embeds_password) {
            continue;
        }
        compose_credentials += 1;
        assert!(
            value.contains("dev") && line.trim_end().ends_with("# development value")
                || line.contains("# development value,"),
            "docker-compose.yml: a credential that is not a marked development value: {line}"
        );
    }
    assert!(compose_credentials >= 5, "found {compose_credentials}");

    // Kubernetes: credentials come from a Secret. The only one checked in is
    // the dev overlay's, of marked development values; no ConfigMap holds one.
    let mut secrets = 0;
    let dev_secret =
        std::fs::read_to_string(repo().join("k8s/overlays/dev/secret.dev.yaml")).unwrap();
    for (file, object) in kubernetes_objects() {
        let file = file.display();
        match object["kind"].as_str().unwrap_or_default() {
            "Secret" => {
                secrets += 1;
                assert!(
                    file.to_string()
                        .ends_with("k8s/overlays/dev/secret.dev.yaml"),
                    "{file}: a Secret outside the dev overlay"
                );
                for (key, value) in object["stringData"].as_mapping().into_iter().flatten() {
                    let (key, value) = (
                        key.as_str().unwrap_or_default(),
                        value.as_str().unwrap_or_default(),
                    );
                    assert!(
                        value.contains("dev")
                            && dev_secret
                                .lines()
                                .any(|l| l.contains(&format!("{key}: {value} # development value"))),
                        "{file}: Secret {key:?} is not a marked development value"
                    );
                }
                assert!(object.get("data").is_none(), "{file}: encoded Secret data");
            }
            "ConfigMap" => {
                for (key, _) in object["data"].as_mapping().into_iter().flatten() {
                    let key = key.as_str().unwrap_or_default();
                    assert!(
                        !is_secret_name(key) || key.ends_with(".sh"),
                        "{file}: ConfigMap holds {key}"
                    );
                }
            }
            _ => {}
        }
        let mut env = Vec::new();
        env_entries(&object, &mut env);
        for (name, inline) in env {
            assert!(
                !(is_secret_name(&name) && inline),
                "{file}: {name} is set inline instead of from a Secret"
            );
        }
    }
    assert_eq!(secrets, 1, "the dev overlay's Secret");

    // Images: no credential baked in.
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if matches!(words.first(), Some(&"ENV" | &"ARG")) {
            assert!(
                !is_secret_name(line),
                "Dockerfile bakes in a credential: {line}"
            );
        }
    }
}

/// Every file a kustomization renders from, following `resources` into
/// directories and files, with the kustomization files themselves.
fn kustomization_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let manifest = dir.join("kustomization.yaml");
    let kustomization = &documents(&manifest)[0];
    found.push(manifest);
    let listed = ["resources", "components"]
        .iter()
        .flat_map(|k| kustomization[*k].as_sequence().cloned().unwrap_or_default());
    for entry in listed {
        let path = dir.join(entry.as_str().unwrap());
        if path.is_dir() {
            kustomization_files(&path, found);
        } else {
            found.push(path);
        }
    }
    for generator in kustomization["configMapGenerator"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        for file in generator["files"].as_sequence().into_iter().flatten() {
            found.push(dir.join(file.as_str().unwrap()));
        }
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
    let services = COMPONENTS.iter().filter(|(name, ..)| *name != "gateway");
    for (name, ..) in services {
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
        let value = compose["services"][*name]["environment"]["PAGE_TOKEN_SECRET"]
            .as_str()
            .unwrap_or_else(|| panic!("compose {name}: PAGE_TOKEN_SECRET is set"));
        assert!(value.len() >= 32, "compose {name}: a 32-byte key");
    }
}

/// `promtool`, from Debian's `prometheus` package (scripts/test installs
/// it), or `PROMTOOL`.
fn promtool() -> String {
    std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into())
}

#[test]
fn the_slo_rules_pass_promtool_check_and_their_burn_rate_unit_tests() {
    let dir = repo().join("deploy/prometheus");
    for args in [
        ["check", "rules", "slo-rules.yml"],
        ["test", "rules", "slo-rules.test.yml"],
    ] {
        let output = std::process::Command::new(promtool())
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs (scripts/test installs Debian's prometheus package)");
        assert!(
            output.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
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

/// Every metric the components export: the names the code records with
/// `counter!`, `gauge!` and `histogram!` (histograms as `_bucket`, `_sum`
/// and `_count`), the `process_*` collector's, the SLO series the rules
/// record, and Prometheus's own `ALERTS`.
fn exported_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut stack = vec![
        repo().join("crates"),
        repo().join("services"),
        repo().join("gateway"),
    ];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (kind, suffixes) in [
            ("counter!(", &[""][..]),
            ("gauge!(", &[""][..]),
            ("histogram!(", &["_bucket", "_sum", "_count"][..]),
        ] {
            for rest in text.split(kind).skip(1) {
                let Some(name) = rest
                    .trim_start()
                    .strip_prefix('"')
                    .and_then(|r| r.split('"').next())
                else {
                    continue;
                };
                for suffix in suffixes {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_threads",
        "process_start_time_seconds",
        "ALERTS",
    ] {
        names.insert(name.into());
    }
    let rules = std::fs::read_to_string(repo().join("deploy/prometheus/slo-rules.yml")).unwrap();
    for line in rules.lines() {
        if let Some(record) = line.trim().strip_prefix("- record: ") {
            names.insert(record.trim().to_string());
        }
    }
    names
}

/// The metric names a PromQL expression reads: its identifiers, less label
/// matchers and ranges, grouping clauses (`by (...)`, `on (...)`), function
/// names, keywords and numbers.
fn metrics_in(expr: &str) -> BTreeSet<String> {
    // Drop `{...}` and `[...]`.
    let mut plain = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let chars: Vec<char> = plain.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if !ident(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let mut next = i;
        while next < chars.len() && chars[next] == ' ' {
            next += 1;
        }
        let call = chars.get(next) == Some(&'(');
        let grouping = [
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
        ];
        if grouping.contains(&word.as_str()) && call {
            // Skip the label list.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            continue;
        }
        // Keywords, and aggregations, which may stand before `by (...)`.
        let keyword = [
            "and",
            "or",
            "unless",
            "bool",
            "offset",
            "sum",
            "avg",
            "min",
            "max",
            "count",
            "group",
            "stddev",
            "stdvar",
            "topk",
            "bottomk",
            "quantile",
            "count_values",
        ]
        .contains(&word.as_str());
        let number = word.starts_with(|c: char| c.is_ascii_digit());
        if !call && !keyword && !number {
            out.insert(word);
        }
    }
    out
}

#[test]
fn every_dashboard_parses_and_queries_only_metrics_the_code_exports() {
    let exported = exported_metrics();
    let dir = repo().join("deploy/grafana/dashboards");
    let mut dashboards = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let dashboard: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let panels = dashboard["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{}: no panels", path.display());
        for panel in panels {
            let targets = panel["targets"].as_array().expect("targets");
            assert!(
                !targets.is_empty(),
                "{}: {} has no query",
                path.display(),
                panel["title"]
            );
            for target in targets {
                let expr = target["expr"].as_str().expect("expr");
                let read = metrics_in(expr);
                assert!(
                    !read.is_empty(),
                    "{}: `{expr}` reads no metric",
                    path.display()
                );
                for metric in read {
                    assert!(
                        exported.contains(&metric),
                        "{}: panel {} reads `{metric}`, which nothing exports",
                        path.display(),
                        panel["title"]
                    );
                }
            }
        }
        dashboards += 1;
    }
    assert!(dashboards >= 5, "overview, one per service, and the SLOs");
}

#[test]
fn the_metric_names_of_a_query_are_found_and_nothing_else() {
    let read = metrics_in(
        r#"histogram_quantile(0.99, sum by (le, method) (rate(grpc_server_request_duration_seconds_bucket{service="x"}[1m]))) / on (x) sum(foo_total)"#,
    );
    let expected: BTreeSet<String> = ["grpc_server_request_duration_seconds_bucket", "foo_total"]
        .map(String::from)
        .into();
    assert_eq!(read, expected);
}

#[test]
fn compose_publishes_every_admin_port_on_the_host_s_loopback_only() {
    let compose = &documents(&repo().join("docker-compose.yml"))[0];
    for (name, _, admin, _) in COMPONENTS {
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
