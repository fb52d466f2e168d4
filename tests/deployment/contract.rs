//! docs/contract.md against the code: every variable read is documented, the ports table.

use shop_topology::Component;

use crate::*;

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

#[test]
fn the_contract_ports_table_matches_the_code() {
    let contract = repo().join("docs/contract.md");
    let text = std::fs::read_to_string(&contract)
        .unwrap_or_else(|e| panic!("{}: {e}", contract.display()));
    for (name, port, admin, _) in components() {
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

#[test]
fn shop_components_prints_the_component_list_that_scripts_follow() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_shop"))
        .arg("components")
        .output()
        .expect("shop runs");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let expected: Vec<String> = Component::ALL
        .iter()
        .map(|c| {
            let s = c.spec();
            let role = s.database.map_or("-", |db| db.role);
            format!(
                "{} {} {} {role} {}",
                s.name,
                s.port,
                s.admin_port,
                s.addr_var.unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn shop_serve_refuses_a_component_the_list_does_not_have_naming_those_it_has() {
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["serve", "payment-service"])
        .output()
        .expect("shop runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for component in Component::ALL {
        assert!(stderr.contains(component.name()), "{stderr}");
    }
}
