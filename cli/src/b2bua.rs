//! `sessionctl b2bua`: a back-to-back user agent on the gateway state table.
//!
//! Each incoming call (leg A) is placed again as a new call (leg B: its own Call-ID, tags
//! and CSeq) to `--to`, keeping the incoming Request-URI's user when `--to` names none,
//! bridged to leg A from the start (`CallOptions::bridge_to`): the endpoint relays leg B's
//! ringing, early media, answer or failure to leg A, a CANCEL or BYE from either side to
//! the other, hold and resume, and once both legs are answered their RTP, RFC 4733 events
//! included, transcoded when the legs chose different G.711 laws. The b2bua sends no
//! provisional response of its own besides 100 Trying. It prints each leg's events, and
//! `{"event":"bridged","a":A,"b":B}` when a call's media starts to flow through it.
//! Signals drain it as they drain `uas`.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;
use session_core::state_table::{CompiledTable, GATEWAY_TABLE_YAML};
use session_core::{CallOptions, Command, SessionEvent, SessionId};

use crate::runtime::{self, Agents, Media};
use crate::table::TableFile;
use crate::uas::{self, OnCall, UasArgs};

/// Arguments of `sessionctl b2bua`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sessionctl b2bua --bind 127.0.0.1:5070 --to sip:127.0.0.1:5080\n  \
    sessionctl b2bua --bind 127.0.0.1:5070 --to sip:bob@pbx.example.com --rtp-ports 30000-30999\n  \
    sessionctl --runtime mio b2bua --bind 127.0.0.1:5070 --to sip:127.0.0.1:5080\n\n\
    Media is relayed, so --media does not apply; --ring-ms delays nothing but a refusal.")]
pub struct B2buaArgs {
    /// Where each incoming call is placed; without a user part, the incoming
    /// Request-URI's user is kept.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub uas: UasArgs,
}

/// Runs the b2bua until a signal.
pub fn run(agents: &mut dyn Agents, mut args: B2buaArgs) -> ExitCode {
    if session_core::sip::Uri::parse(args.to.trim()).is_err() {
        eprintln!("sessionctl b2bua: --to {} is not a SIP URI", args.to);
        return ExitCode::from(2);
    }
    let call_options = &mut args.uas.call_options;
    call_options.table.get_or_insert_with(|| TableFile {
        table: Arc::new(CompiledTable::gateway_table()),
        yaml: GATEWAY_TABLE_YAML.into(),
    });
    // A leg sends nothing of its own once bridged; before (a leg answered, the other not
    // yet), silence.
    args.uas.media = Media::Silence;
    let mut bridge = Bridge {
        to: args.to,
        incoming: BTreeSet::new(),
    };
    uas::serve(agents, args.uas, "b2bua", "b2bua", None, &mut bridge)
}

/// The b2bua's part: each incoming call placed again, bridged.
struct Bridge {
    to: String,
    /// The incoming legs not yet ended.
    incoming: BTreeSet<SessionId>,
}

impl OnCall for Bridge {
    fn incoming(
        &mut self,
        agents: &mut dyn Agents,
        _args: &UasArgs,
        event: &SessionEvent,
    ) -> Option<Command> {
        let SessionEvent::IncomingCall {
            session,
            request_uri,
            ..
        } = event
        else {
            return None;
        };
        let target = outgoing_target(&self.to, request_uri);
        let command = Command::MakeCall {
            target,
            options: CallOptions {
                bridge_to: Some(*session),
                ..CallOptions::default()
            },
        };
        match agents.execute(0, command) {
            Ok(_) => {
                self.incoming.insert(*session);
                None
            }
            Err(e) => {
                tracing::warn!(%session, error = %e, "could not place the outgoing leg");
                Some(Command::Reject {
                    session: *session,
                    status: 503,
                })
            }
        }
    }

    fn event(&mut self, event: &SessionEvent) {
        match event {
            SessionEvent::Bridged { session, peer } if self.incoming.contains(session) => {
                runtime::emit(&json!({"event": "bridged",
                    "a": session.to_string(), "b": peer.to_string()}));
            }
            SessionEvent::Terminated { session, .. } => {
                self.incoming.remove(session);
            }
            _ => {}
        }
    }
}

/// `to`, with the user of `request_uri` when `to` has none (`sip:host:port` routes every
/// call there, each to its own user).
fn outgoing_target(to: &str, request_uri: &str) -> String {
    let to = to.trim();
    let has_user = session_core::sip::Uri::parse(to).is_ok_and(|u| u.user.is_some());
    let user = session_core::sip::Uri::parse(request_uri)
        .ok()
        .and_then(|u| u.user.map(str::to_owned));
    match (has_user, user, to.split_once(':')) {
        (false, Some(user), Some((scheme, rest))) => format!("{scheme}:{user}@{rest}"),
        _ => to.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::outgoing_target;

    #[test]
    fn the_incoming_user_is_kept_when_the_target_names_none() {
        assert_eq!(
            outgoing_target("sip:127.0.0.1:5080", "sip:bob@127.0.0.1:5070"),
            "sip:bob@127.0.0.1:5080"
        );
        assert_eq!(
            outgoing_target("sip:carol@10.0.0.1", "sip:bob@127.0.0.1:5070"),
            "sip:carol@10.0.0.1"
        );
        assert_eq!(
            outgoing_target("sip:10.0.0.1;transport=tcp", "sip:127.0.0.1"),
            "sip:10.0.0.1;transport=tcp"
        );
    }
}
