//! docs/contract.md against the code: every variable read is documented, the ports table.

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
