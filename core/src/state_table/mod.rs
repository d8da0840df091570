//! The YAML state-table format, its loader, validator and compiled form.
