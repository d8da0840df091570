//! The executor that runs session events through a compiled state table.
