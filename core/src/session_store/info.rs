//! What the application can inspect of a session.

use super::{Link, Session};
use crate::call::SessionId;
use crate::dialog::DialogRole;
use crate::state_table::CompiledTable;
use crate::time::Instant;

/// What the application can inspect of a session: a copy, so that a runtime can hand it
/// to another thread.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session.
    pub id: SessionId,
    /// Its current state's name in the state table.
    pub state: String,
    /// Whether we placed the call.
    pub outgoing: bool,
    /// The Call-ID.
    pub call_id: String,
    /// The peer's URI.
    pub remote_uri: String,
    /// When the session was created.
    pub created_at: Instant,
    /// When it was answered.
    pub answered_at: Option<Instant>,
    /// The RTP statistics, when media ran.
    pub media: Option<crate::media::MediaStats>,
    /// The transitions recorded so far.
    pub transitions: u64,
    /// The session whose REFER this call was placed for (RFC 3515).
    pub referred_by: Option<SessionId>,
    /// The session whose dialog this call replaces (RFC 3891).
    pub replaces: Option<SessionId>,
    /// The other leg of this call's bridge.
    pub bridged_with: Option<SessionId>,
}

impl SessionInfo {
    pub(crate) fn new(
        id: SessionId,
        s: &Session,
        link: Option<Link>,
        table: &CompiledTable,
    ) -> Self {
        let link = link.unwrap_or_default();
        SessionInfo {
            id,
            state: table.state(s.machine.state()).name.to_string(),
            outgoing: s.call.role == DialogRole::Uac,
            call_id: s.call.call_id.to_string(),
            remote_uri: s.call.remote_uri.to_string(),
            created_at: s.call.created_at,
            answered_at: s.call.answered_at,
            media: s.call.media.rtp.as_ref().map(|m| m.stats().clone()),
            transitions: s.machine.history().recorded(),
            referred_by: link.referred_by,
            replaces: link.replaces,
            bridged_with: link.bridged,
        }
    }
}
