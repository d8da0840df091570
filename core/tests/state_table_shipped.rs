//! Every shipped table passes the validator without warnings, the embedded default is the
//! file on disk, and each table's Mermaid drawing is snapshotted for review.

use session_core::state_table::{compile, graph, CompiledTable, DEFAULT_TABLE_YAML};

#[test]
fn every_shipped_table_is_valid_and_its_mermaid_graph_is_reviewed() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../state_tables"),
        "*.yaml",
        |path| {
            let text = std::fs::read_to_string(path).expect("readable table");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let loaded = match compile(&name, &text) {
                Ok(loaded) => loaded,
                Err(e) => panic!("{name} is rejected:\n{e}"),
            };
            let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
            assert!(
                warnings.is_empty(),
                "{name} warns:\n{}",
                warnings.join("\n")
            );
            insta::assert_snapshot!(graph::mermaid(&loaded.table));
        }
    );
}

#[test]
fn the_embedded_default_table_is_the_file_on_disk() {
    let on_disk = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../state_tables/default.yaml"
    ))
    .expect("readable");
    assert_eq!(on_disk, DEFAULT_TABLE_YAML);
    let table = CompiledTable::default_table();
    assert_eq!(table.name(), "default");
    for name in [
        "Idle",
        "Initiating",
        "Ringing",
        "EarlyMedia",
        "Active",
        "OnHold",
        "Resuming",
        "Terminating",
        "Terminated",
        "Failed",
    ] {
        assert!(table.state_id(name).is_some(), "default table lacks {name}");
    }
}

#[test]
fn the_dot_drawing_names_every_state() {
    let table = CompiledTable::default_table();
    let dot = graph::dot(&table);
    assert!(dot.starts_with("digraph \"default\""));
    for s in table.states() {
        assert!(
            dot.contains(&format!("\"{}\" [label", s.name)),
            "{}",
            s.name
        );
    }
    assert!(dot.contains("\"Terminated\" [label=\"Terminated\", peripheries=2]"));
}

#[test]
fn the_json_schema_lists_the_whole_vocabulary() {
    use session_core::state_table::{ActionKind, EventType, GuardName, PublishedEvent, TimerName};
    let schema = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../state_tables/schema.json"
    ))
    .expect("readable");
    let names = EventType::ALL
        .iter()
        .map(|e| e.name())
        .chain(ActionKind::ALL.iter().map(|a| a.name()))
        .chain(GuardName::ALL.iter().map(|g| g.name()))
        .chain(PublishedEvent::ALL.iter().map(|p| p.name()))
        .chain(TimerName::ALL.iter().map(|t| t.name()));
    for name in names {
        assert!(
            schema.contains(&format!("\"{name}\"")),
            "state_tables/schema.json lacks `{name}`"
        );
    }
}
