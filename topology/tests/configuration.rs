//! docs/configuration.md stays true: it lists every key of the built-in defaults under its
//! section, names none that is gone, and its example configuration loads.

const DOC: &str = include_str!("../../docs/configuration.md");

/// The text of the doc's section for `[section]` (the top level for "").
fn section_text(section: &str) -> &'static str {
    let heading = if section.is_empty() {
        "## Top level".to_string()
    } else {
        format!("## `[{section}]`")
    };
    let start = DOC
        .find(&heading)
        .unwrap_or_else(|| panic!("docs/configuration.md has no section {heading}"));
    let rest = &DOC[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn every_default_key_is_documented_in_its_section() {
    let defaults: toml::Table = lms_topology::defaults().parse().unwrap();
    let mut missing = Vec::new();
    for (key, value) in &defaults {
        match value {
            toml::Value::Table(keys) => {
                let text = section_text(key);
                for inner in keys.keys() {
                    if !text.contains(&format!("`{inner}`")) {
                        missing.push(format!("{key}.{inner}"));
                    }
                }
            }
            _ if !section_text("").contains(&format!("`{key}`")) => missing.push(key.clone()),
            _ => {}
        }
    }
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}

#[test]
fn the_example_configuration_loads() {
    let start = DOC.rfind("```toml\n").expect("an example") + "```toml\n".len();
    let example = &DOC[start..start + DOC[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lms.toml");
    std::fs::write(&file, example).unwrap();
    let settings = lms_topology::Settings::load(Some(&file)).expect("the example loads");
    assert_eq!(settings.pathway.db_pool_size, 16);
    assert_eq!(
        settings.topology.enrolment.unwrap().host(),
        "lms-enrolment-headless"
    );
}
