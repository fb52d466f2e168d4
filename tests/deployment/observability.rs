//! The SLO rules (promtool), Prometheus, and the dashboards against the metrics the code exports.

use std::collections::BTreeSet;

use crate::*;

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
        // RED pairs: `RedMetrics::new("counter", "histogram", "outcome label")`.
        for rest in text.split("RedMetrics::new(").skip(1) {
            let mut literals = rest.split('"').skip(1).step_by(2);
            if let (Some(counter), Some(histogram)) = (literals.next(), literals.next()) {
                names.insert(counter.to_string());
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{histogram}{suffix}"));
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
