//! Drawings of a compiled table for review: Graphviz DOT and Mermaid `stateDiagram-v2`.
//!
//! States are nodes (the initial one entered from a start marker, terminal ones leading
//! to an end marker); each transition is one edge per state it leaves from, labelled
//! `ROLE Event(match) [guards] / actions` (the role is left out for `Both`). Output is
//! deterministic: file order.

use std::fmt::Write as _;

use super::compiled::{CompiledTable, Guard, Transition};
use super::vocabulary::RoleFilter;

/// The table as a Mermaid state diagram.
pub fn mermaid(table: &CompiledTable) -> String {
    let mut out = String::from("stateDiagram-v2\n");
    let _ = writeln!(
        out,
        "    [*] --> {}",
        ident(&table.state(table.initial_state()).name)
    );
    for t in table.transitions() {
        let label = label(table, t, Style::Mermaid);
        for &from in &t.from {
            let to = t.target(from);
            let _ = writeln!(
                out,
                "    {} --> {} : {}",
                ident(&table.state(from).name),
                ident(&table.state(to).name),
                label
            );
        }
    }
    for s in table.states().iter().filter(|s| s.terminal) {
        let _ = writeln!(out, "    {} --> [*]", ident(&s.name));
    }
    out
}

/// The table as a Graphviz digraph.
pub fn dot(table: &CompiledTable) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(table.name()));
    out.push_str("    rankdir=LR;\n    node [shape=box, style=rounded];\n");
    out.push_str("    __start [shape=point];\n");
    for s in table.states() {
        let extra = if s.terminal { ", peripheries=2" } else { "" };
        let _ = writeln!(out, "    \"{0}\" [label=\"{0}\"{extra}];", escape(&s.name));
    }
    let _ = writeln!(
        out,
        "    __start -> \"{}\";",
        escape(&table.state(table.initial_state()).name)
    );
    for t in table.transitions() {
        let label = escape(&label(table, t, Style::Dot));
        for &from in &t.from {
            let to = t.target(from);
            let _ = writeln!(
                out,
                "    \"{}\" -> \"{}\" [label=\"{label}\"];",
                escape(&table.state(from).name),
                escape(&table.state(to).name),
            );
        }
    }
    out.push_str("}\n");
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Dot,
    Mermaid,
}

fn label(table: &CompiledTable, t: &Transition, style: Style) -> String {
    let mut s = String::new();
    if t.role != RoleFilter::Both {
        let _ = write!(s, "{} ", t.role.name());
    }
    s.push_str(t.event.name());
    let m = &t.event_match;
    let mut parts: Vec<String> = Vec::new();
    if let Some(status) = m.status {
        parts.push(status.to_string());
    }
    if let Some(class) = m.status_class {
        parts.push(format!("{class}xx"));
    }
    if let Some(method) = &m.method {
        parts.push(method.as_str().to_owned());
    }
    if let Some(sdp) = m.has_sdp {
        parts.push(if sdp { "sdp" } else { "no sdp" }.to_owned());
    }
    if let Some(hold) = m.remote_hold {
        parts.push(if hold { "hold offer" } else { "not hold" }.to_owned());
    }
    if !parts.is_empty() {
        let _ = write!(s, "({})", parts.join(", "));
    }
    if !t.guards.is_empty() {
        let guards: Vec<String> = t.guards.iter().map(|g| guard(table, g, style)).collect();
        let _ = write!(s, " [{}]", guards.join(", "));
    }
    if !t.actions.is_empty() {
        let actions: Vec<String> = t.actions.iter().map(|a| a.to_string()).collect();
        let _ = write!(s, " / {}", actions.join(", "));
    }
    if style == Style::Mermaid {
        // Mermaid ends a label at a colon and treats `;` and `#` specially.
        s = s.replace([':', ';', '#'], " ");
    }
    s
}

fn guard(table: &CompiledTable, g: &Guard, style: Style) -> String {
    match *g {
        Guard::Named(name) => name.name().to_owned(),
        Guard::Flag(id) => table.conditions()[usize::from(id.0)].name.to_string(),
        Guard::Compare {
            condition,
            operator,
            value,
        } => {
            let name = &table.conditions()[usize::from(condition.0)].name;
            let op = match style {
                Style::Dot => operator.symbol(),
                Style::Mermaid => match operator.symbol() {
                    "<" => "lt",
                    "<=" => "le",
                    ">" => "gt",
                    ">=" => "ge",
                    other => other,
                },
            };
            format!("{name} {op} {value}")
        }
    }
}

/// A Mermaid-safe state identifier.
fn ident(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Escapes a DOT string.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
