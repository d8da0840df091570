//! The adapters: where the state machine's actions become SIP messages, transactions,
//! media operations and timers, and where its published events become application
//! events.
//!
//! `Adapters` implements the executor's [`ActionHandler`] for one session: it borrows
//! the session's `Call` data and the [`Step`] the endpoint lent the session for the
//! length of one transition, so every action runs to completion with nothing copied out
//! and written back; what reaches outside the session is an effect in the step. The SIP
//! side lives in `dialog_adapter`, the media side in `media_adapter`. The other direction
//! (datagrams and media events into state-machine events) is the session's own inputs
//! (`session_store`), after the endpoint's router has found the session.

pub(crate) mod dialog_adapter;
pub(crate) mod media_adapter;
pub(crate) mod registration_adapter;

use crate::call::{Call, Payload};
use crate::call::{Effect, EndReason, SessionEvent, Side};
use crate::call::{SessionTimer, Step};
use crate::dialog::{DialogRole, DialogState};
use crate::state_machine::{ActionError, ActionHandler, SessionState};
use crate::state_table::{Action, Event, EventType, GuardName, PublishedEvent};
use crate::time::Instant;
use std::time::Duration;

/// The action handler for one session during one transition.
pub(crate) struct Adapters<'a, 's> {
    pub(crate) step: &'a mut Step<'s>,
    pub(crate) call: &'a mut Call,
    /// What the input that triggered the transition carries.
    pub(crate) payload: &'a mut Payload,
}

impl ActionHandler for Adapters<'_, '_> {
    fn execute(
        &mut self,
        action: &Action,
        event: &Event,
        _session: &mut SessionState,
        now: Instant,
    ) -> Result<(), ActionError> {
        use dialog_adapter as d;
        use media_adapter as m;
        use registration_adapter as r;
        let (step, call, payload) = (&mut *self.step, &mut *self.call, &mut *self.payload);
        match *action {
            Action::CreateDialog => d::create_dialog(step, call),
            Action::SendINVITE => d::send_invite(step, call),
            Action::SendProvisional { status } => d::send_provisional(step, call, status),
            Action::Send200OK => d::send_200_ok(step, call),
            Action::SendReject { status } => {
                let status = status.or(event.status).unwrap_or(486);
                d::send_reject(step, call, status)
            }
            Action::SendACK => d::send_ack(step, call, event),
            Action::SendCANCEL => d::send_cancel(step, call),
            Action::SendBYE => d::send_bye(step, call, event),
            Action::AcceptBYE => d::accept_bye(step, call, &mut payload.request),
            Action::AcceptCANCEL => d::accept_cancel(step, call, payload.cancel.take()),
            Action::SendReINVITE { mode } => d::send_reinvite(step, call, mode),
            Action::AcceptReINVITE => d::accept_reinvite(step, call, &mut payload.request),
            Action::RejectReINVITE { status } | Action::RejectUPDATE { status } => {
                d::answer_pending(step, call, &mut payload.request, status)
            }
            Action::AcceptUPDATE => d::accept_update(step, call, &mut payload.request),
            Action::RefreshSession => d::refresh_session(step, call),
            Action::SendUPDATE => d::send_update(step, call),
            Action::SendPRACK => d::send_prack(step, call),
            Action::AcceptPRACK => d::accept_prack(step, call, &mut payload.request),
            Action::SendREFER => d::send_refer(step, call, payload.refer_to.as_deref()),
            Action::AcceptREFER => d::accept_refer(step, call, payload),
            Action::AcceptNOTIFY | Action::AcceptINFO => {
                d::answer_pending(step, call, &mut payload.request, 200)
            }
            Action::SendNOTIFY => {
                let status = event.status.ok_or(ActionError::NotSupported)?;
                d::send_notify(step, call, status)
            }
            Action::CallReferTarget => d::call_refer_target(step, payload),
            Action::SendREGISTER => r::send_register(step, call, None),
            Action::SendUnREGISTER => r::send_register(step, call, Some(0)),
            Action::ScheduleRegistrationRefresh => r::schedule_refresh(step, call),
            Action::ScheduleRegistrationRetry => r::schedule_retry(step, call),
            Action::ScheduleGlareRetry => {
                d::schedule_glare_retry(step, call);
                Ok(())
            }
            Action::DeferCommand => {
                call.deferred_command = Some(Box::new((event.clone(), std::mem::take(payload))));
                Ok(())
            }
            Action::CleanupDialog => {
                call.dialog = None;
                call.invite.retransmit_2xx = None;
                step.cancel_timer(SessionTimer::Retransmit2xx);
                Ok(())
            }
            Action::CreateMediaSession => m::create_media_session(step),
            Action::GenerateLocalSDP => m::generate_local_sdp(step, call, &mut payload.offer),
            Action::NegotiateSDP => m::negotiate_sdp(step, call, payload, event.cseq),
            Action::StartMediaFlow => m::start_media_flow(step, call),
            Action::StopMediaFlow => m::stop_media_flow(step, call),
            Action::HoldMedia | Action::ResumeMedia => m::apply_direction(step, call),
            Action::SendDTMF => m::send_dtmf(step, call),
            Action::CleanupMedia => m::cleanup_media(step, call),
            Action::BridgeMedia => m::relay_media(step, call, true),
            Action::UnbridgeMedia => m::relay_media(step, call, false),
            Action::StartTimer { timer, ms } => {
                let at = now + Duration::from_millis(u64::from(ms));
                step.set_timer(SessionTimer::Table(timer), at);
                Ok(())
            }
            Action::CancelTimer { timer } => {
                step.cancel_timer(SessionTimer::Table(timer));
                Ok(())
            }
            Action::DestroySession => {
                step.effects.push(Effect::Destroyed);
                Ok(())
            }
            // The executor applies these to the RetryCount condition itself.
            Action::IncrementRetry | Action::ResetRetry => Ok(()),
        }
    }

    fn guard(&self, guard: GuardName, event: &Event, _session: &SessionState) -> bool {
        let call = &*self.call;
        match guard {
            GuardName::HasValidTarget => !call.request_uri.is_empty(),
            GuardName::HasLocalSdp => call.sdp.local_sdp().is_some(),
            GuardName::DialogEstablished => call
                .dialog
                .as_ref()
                .is_some_and(|d| d.state() == DialogState::Confirmed),
            GuardName::MediaReady => call.media.local_rtp.is_some(),
            GuardName::LocalOfferPending => call.offer_answer.has_local_offer(),
            GuardName::OfferAnswerIdle => call.offer_answer.is_idle(),
            GuardName::ContactBehindNat => call
                .registration
                .as_ref()
                .is_some_and(|r| r.contact_behind_nat),
            GuardName::MinExpiresRaised => call
                .registration
                .as_ref()
                .is_some_and(|r| r.min_expires_raised),
            GuardName::LateOffer => call.invite.late_offer,
            GuardName::OfferDueInProvisional => dialog_adapter::offer_due_in_provisional(call),
            GuardName::OfferAwaitsAnswer => call.offer_answer.awaits_answer_in(event.cseq),
            GuardName::IsBridged => self.step.bridged_with.is_some(),
            _ => false,
        }
    }

    fn publish(&mut self, published: PublishedEvent, trigger: &Event, _session: &SessionState) {
        let session = self.step.id;
        let event = match published {
            PublishedEvent::IncomingCall => SessionEvent::IncomingCall {
                session,
                from: strip_name_addr(&self.call.remote_uri).to_owned(),
                to: strip_name_addr(&self.call.local_uri).to_owned(),
                request_uri: self.call.request_uri.clone(),
            },
            PublishedEvent::Ringing => SessionEvent::Ringing { session },
            PublishedEvent::EarlyMedia => SessionEvent::EarlyMedia { session },
            PublishedEvent::Answered => {
                self.call.report.answered = true;
                SessionEvent::Answered { session }
            }
            PublishedEvent::Held => SessionEvent::Held {
                session,
                by: Side::Local,
            },
            PublishedEvent::Resumed => SessionEvent::Resumed {
                session,
                by: Side::Local,
            },
            PublishedEvent::RemoteHeld => SessionEvent::Held {
                session,
                by: Side::Remote,
            },
            PublishedEvent::RemoteResumed => SessionEvent::Resumed {
                session,
                by: Side::Remote,
            },
            PublishedEvent::TransferRequested => SessionEvent::TransferRequested {
                session,
                target: self.payload.refer_to.clone().unwrap_or_default(),
                call: self.payload.referred_call,
            },
            PublishedEvent::TransferProgress => SessionEvent::TransferProgress {
                session,
                status: trigger.status.unwrap_or(100),
            },
            PublishedEvent::TransferSucceeded => SessionEvent::TransferSucceeded {
                session,
                status: trigger.status.unwrap_or(200),
            },
            PublishedEvent::TransferFailed => SessionEvent::TransferFailed {
                session,
                status: trigger.status,
            },
            PublishedEvent::DtmfReceived => match self.payload.digit.take() {
                Some((digit, duration_ms, via)) => SessionEvent::DtmfReceived {
                    session,
                    digit,
                    duration_ms,
                    via,
                },
                None => return,
            },
            PublishedEvent::InfoReceived => match self.payload.info.take() {
                Some((content_type, body)) => SessionEvent::InfoReceived {
                    session,
                    content_type,
                    body,
                },
                None => return,
            },
            PublishedEvent::Terminated | PublishedEvent::Failed => {
                if self.call.report.terminated {
                    return;
                }
                self.call.report.terminated = true;
                let reason = self
                    .call
                    .report
                    .end_reason
                    .clone()
                    .unwrap_or_else(|| end_reason(trigger, self.call));
                let last_register = self.call.registration.as_ref().and_then(|r| r.last_status);
                SessionEvent::Terminated {
                    session,
                    reason,
                    status: self.call.invite.final_status.or(last_register),
                }
            }
            PublishedEvent::Registered | PublishedEvent::RegistrationRefreshed => {
                let Some(reg) = self.call.registration.as_ref() else {
                    return;
                };
                let expires = reg.granted.unwrap_or(reg.expires);
                if published == PublishedEvent::Registered {
                    SessionEvent::Registered { session, expires }
                } else {
                    SessionEvent::RegistrationRefreshed { session, expires }
                }
            }
            PublishedEvent::RegistrationFailed => {
                let Some(reg) = self.call.registration.as_ref() else {
                    return;
                };
                SessionEvent::RegistrationFailed {
                    session,
                    status: reg.last_status,
                    retry_in: reg.retry_in,
                }
            }
            PublishedEvent::Bridged => match self.step.bridged_with {
                Some(peer) => SessionEvent::Bridged { session, peer },
                None => return,
            },
            PublishedEvent::Unbridged => SessionEvent::Unbridged { session },
            // Hold/resume failures have no application event yet.
            _ => return,
        };
        self.step.event(event);
    }
}

/// Why a call ended, from the event that ended it, when no earlier step decided.
fn end_reason(trigger: &Event, call: &Call) -> EndReason {
    if call.registration.is_some() {
        return match trigger.event_type {
            EventType::InternalError => EndReason::Internal,
            _ => EndReason::Unregistered,
        };
    }
    match trigger.event_type {
        EventType::DialogBYE => EndReason::HungUp { by: Side::Remote },
        EventType::DialogCANCEL => EndReason::Cancelled { by: Side::Remote },
        EventType::HangupCall if call.report.answered => EndReason::HungUp { by: Side::Local },
        EventType::HangupCall if call.role == DialogRole::Uas => EndReason::Rejected {
            by: Side::Local,
            status: call.invite.final_status.unwrap_or(603),
        },
        EventType::HangupCall => EndReason::Cancelled { by: Side::Local },
        EventType::RejectCall | EventType::NoAnswerTimeout => EndReason::Rejected {
            by: Side::Local,
            status: call.invite.final_status.unwrap_or(486),
        },
        EventType::DialogFailure if call.invite.cancel_sent => {
            EndReason::Cancelled { by: Side::Local }
        }
        EventType::DialogFailure if trigger.status == Some(488) => EndReason::NotAcceptable,
        EventType::DialogFailure => EndReason::Rejected {
            by: Side::Remote,
            status: trigger.status.unwrap_or(500),
        },
        EventType::DialogTimeout => EndReason::Timeout,
        EventType::TransportError => EndReason::TransportError,
        EventType::MediaTimeout => EndReason::MediaTimeout,
        EventType::MediaSessionFailed => EndReason::MediaFailed,
        EventType::InviteExpired => EndReason::Expired,
        // A PRACK ends a call only when it lacks the answer to our offer (RFC 3262 §5).
        EventType::DialogPRACK => EndReason::NotAcceptable,
        _ => EndReason::Internal,
    }
}

/// Why a call ends when we send a BYE, from the event that made us send it.
fn bye_reason(trigger: &Event, call: &Call) -> EndReason {
    match trigger.event_type {
        EventType::DialogTimeout => EndReason::Timeout,
        EventType::MediaTimeout => EndReason::MediaTimeout,
        EventType::MediaSessionFailed => EndReason::MediaFailed,
        EventType::SessionExpired => EndReason::SessionExpired,
        EventType::DialogReInviteFailed | EventType::DialogUpdateFailed => EndReason::DialogGone,
        EventType::Dialog200OK if call.invite.cancel_sent => {
            EndReason::Cancelled { by: Side::Local }
        }
        _ => EndReason::HungUp { by: Side::Local },
    }
}

/// The URI inside a name-addr (`"Bob" <sip:bob@h>;x` → `sip:bob@h`).
pub(crate) fn strip_name_addr(value: &str) -> &str {
    match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value.trim(),
    }
}
