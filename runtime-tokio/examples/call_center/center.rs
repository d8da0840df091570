//! The call center's logic: a queue of customers, a set of agents with a state, and the
//! rule that joins them — as a sans-IO value on session-core's public API only.
//!
//! [`CallCenter`] takes the endpoint's [`SessionEvent`]s and the passage of time, and
//! gives back [`Command`]s to execute; it never touches a socket, a clock or the
//! endpoint itself. The driving loop, the same in a tokio program and in the simulator:
//!
//! 1. Feed every event of the endpoint: [`CallCenter::on_event`].
//! 2. Drain [`CallCenter::poll_command`]; execute each command on the endpoint and hand
//!    its outcome back with [`CallCenter::command_done`] before polling the next (a call
//!    placed to an agent is known by the session id it returns).
//! 3. At [`CallCenter::poll_timeout`], call [`CallCenter::on_timeout`] (an agent's ring
//!    timer, a wrap-up ending), then drain commands again.
//!
//! The rules:
//!
//! - A customer's call joins the back of the queue. It waits unanswered, hearing the
//!   ringback its phone plays for the endpoint's 180 ([`Waiting::Ringback`]), or is
//!   answered at once and hears the endpoint's own media, a tone ([`Waiting::Answered`]).
//! - For each waiting customer one agent is rung: the one idle the longest (ties: the
//!   first configured). Agents are rung for the queue, not for one customer: the agent who
//!   answers gets the customer who has waited the longest, so customers are connected in
//!   the order they called even when an agent answers late or not at all.
//! - An agent who does not answer within the ring timeout, or refuses, is skipped: the
//!   call to them is cancelled, they are not rung again for
//!   [`CallCenterConfig::skip_pause`], and they count as idle from then on, so everyone
//!   idle longer is rung before them.
//! - When an agent answers, the customer is answered (if waiting unanswered) and the two
//!   calls are bridged (`Command::Bridge`): the endpoint relays their media and ends one
//!   call when the other ends. The agent then talks, and after the call has a wrap-up time
//!   before becoming idle again.
//! - A customer who hangs up while waiting leaves the queue; an agent being rung for the
//!   queue is released again if there are more agents ringing than customers waiting.
//!
//! Limits: at most [`CallCenterConfig::max_queue`] customers wait; more are refused with
//! 486 (Busy Here).

use std::collections::VecDeque;
use std::time::Duration;

use session_core::{CallOptions, Command, Instant, SessionEvent, SessionId};

/// How a waiting customer is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Unanswered, ringing (the state table sends 180): the customer hears ringback, and
    /// is answered only when an agent is there.
    Ringback,
    /// Answered at once: the customer hears the endpoint's media (a tone, an
    /// announcement) until an agent answers.
    Answered,
}

/// The call center's settings.
#[derive(Clone, Debug)]
pub struct CallCenterConfig {
    /// The agents' SIP URIs, in the order ties are broken.
    pub agents: Vec<String>,
    /// How customers wait.
    pub waiting: Waiting,
    /// How long an agent may ring before they are skipped.
    pub ring_timeout: Duration,
    /// How long an agent stays in wrap-up after a call.
    pub wrap_up: Duration,
    /// How long an agent who did not answer (or refused) is left alone.
    pub skip_pause: Duration,
    /// The most customers waiting at once.
    pub max_queue: usize,
}

/// What an agent is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentState {
    /// Free to take a call.
    Idle,
    /// Being called (or the call to them being cancelled).
    Ringing,
    /// Bridged to a customer.
    Talking,
    /// After a call, until the wrap-up time passed.
    WrapUp,
}

/// One customer connected to one agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// The customer's call.
    pub customer: SessionId,
    /// The agent's index in [`CallCenterConfig::agents`].
    pub agent: usize,
    /// When the agent answered.
    pub at: Instant,
}

/// Why a call to an agent is being cancelled, which decides where they go in the idle
/// order afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Release {
    /// They did not answer in time: skipped, idle from now.
    Skipped,
    /// Fewer customers wait than agents ring: not their fault, their place is kept.
    Surplus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Agent {
    Idle,
    /// Dialled; `session` is known once the command's outcome came back.
    Ringing {
        session: Option<SessionId>,
        deadline: Instant,
        dialled: u64,
        release: Option<Release>,
    },
    Talking {
        session: SessionId,
    },
    WrapUp {
        until: Instant,
    },
}

#[derive(Clone, Copy, Debug)]
struct Customer {
    session: SessionId,
    answered: bool,
}

/// What a queued command is for, so that its outcome can be acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// A call to agent `n`.
    Dial(usize),
    /// Bridging agent `n`'s call to a customer.
    Bridge(usize),
    /// Anything whose failure changes nothing (the call it was for has ended).
    Other,
}

/// The call center: see the module documentation.
#[derive(Debug)]
pub struct CallCenter {
    config: CallCenterConfig,
    agents: Vec<Agent>,
    /// Since when each agent has been idle (the longest-idle rule).
    idle_since: Vec<Instant>,
    /// Until when a skipped agent is not rung.
    resting_until: Vec<Instant>,
    queue: VecDeque<Customer>,
    commands: VecDeque<(Command, Purpose)>,
    in_flight: Option<Purpose>,
    dials: u64,
    arrivals: Vec<SessionId>,
    served: Vec<Served>,
    abandoned: Vec<SessionId>,
    refused: Vec<SessionId>,
}

impl CallCenter {
    /// A call center whose agents are all idle from `now`.
    pub fn new(config: CallCenterConfig, now: Instant) -> CallCenter {
        let n = config.agents.len();
        CallCenter {
            config,
            agents: vec![Agent::Idle; n],
            idle_since: vec![now; n],
            resting_until: vec![now; n],
            queue: VecDeque::new(),
            commands: VecDeque::new(),
            in_flight: None,
            dials: 0,
            arrivals: Vec::new(),
            served: Vec::new(),
            abandoned: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// Takes one event of the endpoint.
    pub fn on_event(&mut self, now: Instant, event: &SessionEvent) {
        match event {
            SessionEvent::IncomingCall { session, .. } => self.customer_calls(*session),
            SessionEvent::Answered { session } => {
                if let Some(n) = self.agent_of(*session) {
                    self.agent_answered(now, n, *session);
                } else if let Some(c) = self.queue.iter_mut().find(|c| c.session == *session) {
                    c.answered = true;
                }
            }
            SessionEvent::Terminated { session, .. } => match self.agent_of(*session) {
                Some(n) => self.agent_call_ended(now, n),
                None => self.customer_left(*session),
            },
            _ => return,
        }
        self.dispatch(now);
    }

    /// The instant from [`CallCenter::poll_timeout`] has come: rings time out, wrap-ups end.
    pub fn on_timeout(&mut self, now: Instant) {
        for n in 0..self.agents.len() {
            match self.agents[n] {
                Agent::Ringing {
                    session: Some(session),
                    deadline,
                    release: None,
                    dialled,
                } if deadline <= now => {
                    self.agents[n] = Agent::Ringing {
                        session: Some(session),
                        deadline,
                        dialled,
                        release: Some(Release::Skipped),
                    };
                    self.push(Command::Hangup { session }, Purpose::Other);
                }
                Agent::WrapUp { until } if until <= now => {
                    self.agents[n] = Agent::Idle;
                    self.idle_since[n] = until;
                }
                // Rested: no longer asks for a wake-up.
                Agent::Idle if self.resting_until[n] <= now => {
                    self.resting_until[n] = self.idle_since[n];
                }
                _ => {}
            }
        }
        self.dispatch(now);
    }

    /// When [`CallCenter::on_timeout`] is next needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.agents
            .iter()
            .filter_map(|a| match *a {
                Agent::Ringing {
                    session: Some(_),
                    deadline,
                    release: None,
                    ..
                } => Some(deadline),
                Agent::WrapUp { until } => Some(until),
                _ => None,
            })
            .chain(self.rest_ends())
            .min()
    }

    /// The next command to execute on the endpoint. Report its outcome with
    /// [`CallCenter::command_done`] before polling the next one.
    pub fn poll_command(&mut self) -> Option<Command> {
        let (command, purpose) = self.commands.pop_front()?;
        self.in_flight = Some(purpose);
        Some(command)
    }

    /// The outcome of the command [`CallCenter::poll_command`] gave last (the error is
    /// the driver's: `CommandError` from an `Endpoint`, a runtime's own error type).
    pub fn command_done<E>(&mut self, now: Instant, result: Result<SessionId, E>) {
        match (self.in_flight.take(), result) {
            (Some(Purpose::Dial(n)), Ok(session)) => {
                if let Agent::Ringing {
                    session: s @ None,
                    release,
                    ..
                } = &mut self.agents[n]
                {
                    *s = Some(session);
                    if release.is_some() {
                        // Released before the call existed: cancel it now.
                        self.push(Command::Hangup { session }, Purpose::Other);
                    }
                }
            }
            (Some(Purpose::Dial(n)), Err(_)) => {
                // The call could not even start: skip the agent.
                self.agents[n] = Agent::Idle;
                self.skip(n, now);
            }
            (Some(Purpose::Bridge(n)), Err(_)) => {
                // The customer's call ended under our feet: release the agent.
                if let Agent::Talking { session } = self.agents[n] {
                    self.agents[n] = Agent::Ringing {
                        session: Some(session),
                        deadline: now,
                        dialled: self.dials,
                        release: Some(Release::Surplus),
                    };
                    self.push(Command::Hangup { session }, Purpose::Other);
                }
            }
            _ => return,
        }
        self.dispatch(now);
    }

    /// Agent `n`'s state.
    pub fn agent_state(&self, n: usize) -> AgentState {
        match self.agents[n] {
            Agent::Idle => AgentState::Idle,
            Agent::Ringing { .. } => AgentState::Ringing,
            Agent::Talking { .. } => AgentState::Talking,
            Agent::WrapUp { .. } => AgentState::WrapUp,
        }
    }

    /// The customers waiting, longest first.
    pub fn waiting(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.queue.iter().map(|c| c.session)
    }

    /// Every customer's call, in the order they arrived (refused ones included).
    pub fn arrivals(&self) -> &[SessionId] {
        &self.arrivals
    }

    /// Every customer connected to an agent, in the order it happened.
    pub fn served(&self) -> &[Served] {
        &self.served
    }

    /// The customers who hung up while waiting.
    pub fn abandoned(&self) -> &[SessionId] {
        &self.abandoned
    }

    /// The customers refused because the queue was full.
    pub fn refused(&self) -> &[SessionId] {
        &self.refused
    }

    fn customer_calls(&mut self, session: SessionId) {
        self.arrivals.push(session);
        if self.queue.len() >= self.config.max_queue {
            self.refused.push(session);
            self.push(
                Command::Reject {
                    session,
                    status: 486,
                },
                Purpose::Other,
            );
            return;
        }
        self.queue.push_back(Customer {
            session,
            answered: false,
        });
        if self.config.waiting == Waiting::Answered {
            self.push(Command::Accept { session }, Purpose::Other);
        }
    }

    fn customer_left(&mut self, session: SessionId) {
        if let Some(i) = self.queue.iter().position(|c| c.session == session) {
            self.queue.remove(i);
            self.abandoned.push(session);
        }
    }

    fn agent_answered(&mut self, now: Instant, n: usize, session: SessionId) {
        let Agent::Ringing { release: None, .. } = self.agents[n] else {
            return; // answered as its CANCEL went out: the endpoint ends that call itself
        };
        let Some(customer) = self.queue.pop_front() else {
            self.release(n, session, Release::Surplus);
            return;
        };
        if !customer.answered {
            self.push(
                Command::Accept {
                    session: customer.session,
                },
                Purpose::Other,
            );
        }
        self.push(
            Command::Bridge {
                a: customer.session,
                b: session,
            },
            Purpose::Bridge(n),
        );
        self.agents[n] = Agent::Talking { session };
        self.served.push(Served {
            customer: customer.session,
            agent: n,
            at: now,
        });
    }

    fn agent_call_ended(&mut self, now: Instant, n: usize) {
        match self.agents[n] {
            Agent::Ringing {
                release: Some(Release::Surplus),
                ..
            } => self.agents[n] = Agent::Idle,
            Agent::Ringing { .. } => {
                self.agents[n] = Agent::Idle;
                self.skip(n, now);
            }
            Agent::Talking { .. } => {
                self.agents[n] = Agent::WrapUp {
                    until: now + self.config.wrap_up,
                };
            }
            Agent::Idle | Agent::WrapUp { .. } => {}
        }
    }

    /// Rings one agent per waiting customer not yet covered; releases agents rung for
    /// customers who left.
    fn dispatch(&mut self, now: Instant) {
        let ringing = |agents: &[Agent]| {
            agents
                .iter()
                .filter(|a| matches!(a, Agent::Ringing { release: None, .. }))
                .count()
        };
        while ringing(&self.agents) < self.queue.len() {
            let next = (0..self.agents.len())
                .filter(|&n| self.agents[n] == Agent::Idle && self.resting_until[n] <= now)
                .min_by_key(|&n| (self.idle_since[n], n));
            let Some(n) = next else {
                break;
            };
            self.dials += 1;
            self.agents[n] = Agent::Ringing {
                session: None,
                deadline: now + self.config.ring_timeout,
                dialled: self.dials,
                release: None,
            };
            let target = self.config.agents[n].clone();
            self.push(
                Command::MakeCall {
                    target,
                    options: CallOptions::default(),
                },
                Purpose::Dial(n),
            );
        }
        while ringing(&self.agents) > self.queue.len() {
            // The agent dialled last goes first.
            let last = (0..self.agents.len())
                .filter_map(|n| match self.agents[n] {
                    Agent::Ringing {
                        release: None,
                        dialled,
                        session,
                        ..
                    } => Some((dialled, n, session)),
                    _ => None,
                })
                .max();
            let Some((_, n, session)) = last else {
                break;
            };
            match session {
                Some(session) => self.release(n, session, Release::Surplus),
                None => {
                    if let Agent::Ringing { release, .. } = &mut self.agents[n] {
                        *release = Some(Release::Surplus);
                    }
                }
            }
        }
    }

    /// Cancels (or, once answered, hangs up) the call to agent `n`.
    fn release(&mut self, n: usize, session: SessionId, why: Release) {
        self.agents[n] = Agent::Ringing {
            session: Some(session),
            deadline: Instant::ZERO,
            dialled: 0,
            release: Some(why),
        };
        self.push(Command::Hangup { session }, Purpose::Other);
    }

    /// Agent `n` did not take a call: idle from `now`, and left alone for a while.
    fn skip(&mut self, n: usize, now: Instant) {
        self.idle_since[n] = now;
        self.resting_until[n] = now + self.config.skip_pause;
    }

    /// When resting agents become available, while customers wait for one.
    fn rest_ends(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        (0..self.agents.len())
            .filter(|&n| {
                self.agents[n] == Agent::Idle && self.resting_until[n] > self.idle_since[n]
            })
            .map(|n| self.resting_until[n])
            .min()
    }

    fn agent_of(&self, session: SessionId) -> Option<usize> {
        self.agents.iter().position(|a| match *a {
            Agent::Ringing { session: s, .. } => s == Some(session),
            Agent::Talking { session: s } => s == session,
            _ => false,
        })
    }

    fn push(&mut self, command: Command, purpose: Purpose) {
        self.commands.push_back((command, purpose));
    }
}
