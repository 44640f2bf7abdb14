//! The README's plugin table names exactly the plugins the registries hold, so it cannot fall
//! behind the code.

use std::collections::BTreeSet;

fn readme_plugins(kind: &str) -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    readme
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[2] == kind).then(|| cells[1].trim_matches('`').to_string())
        })
        .collect()
}

#[test]
fn plugin_table_matches_the_registries() {
    let inputs: BTreeSet<String> = sluice::inputs::INPUTS.iter().map(|p| p.name.to_string()).collect();
    let filters: BTreeSet<String> = sluice::filters::FILTERS.iter().map(|p| p.name.to_string()).collect();
    let outputs: BTreeSet<String> = sluice::outputs::OUTPUTS.iter().map(|p| p.name.to_string()).collect();
    assert_eq!(readme_plugins("input"), inputs, "README inputs");
    assert_eq!(readme_plugins("filter"), filters, "README filters");
    assert_eq!(readme_plugins("output"), outputs, "README outputs");
}
