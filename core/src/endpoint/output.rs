//! What the endpoint hands its driver, drained with `poll_output`: one exhaustive enum.

use crate::call::{MediaRequest, SessionEvent, Transmit};
use crate::resolve::ResolveQuery;

/// One output of the endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send these bytes.
    Transmit(Transmit),
    /// Open or close a media (RTP) socket.
    Media(MediaRequest),
    /// Something the application should know.
    Event(SessionEvent),
    /// Resolve a host name (RFC 3263), then answer with `Endpoint::handle_resolved`.
    Resolve(ResolveQuery),
}
