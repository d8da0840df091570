//! SIP messages: our own zero-copy parser and builder (RFC 3261 §7, §20, §25).

mod method;
mod transport;

pub use method::Method;
pub use transport::Transport;
