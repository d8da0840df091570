//! The driver task: owns the [`Endpoint`] and its sockets, and is the only place either
//! is touched. One `poll` function, quinn-style: commands in, sockets read until
//! `WouldBlock` (or the per-wake-up budget, then yield), outputs drained and sent, the one
//! timer re-armed.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use session_core::driver::{
    Direction, DriverLimits, DriverStats, Epoch, Frame, IdleConnections, MediaBook, PortAllocator,
    RetryQueue, RtpCounters, SipCapture, Source, StreamReassembler,
};
use session_core::endpoint::{MediaRequest, Transmit};
use session_core::media::PushAudioError;
use session_core::sip::Transport;
use session_core::state_machine::History;
use session_core::{
    CallOptions, Command, CommandError, Config, Endpoint, MediaInput, Output, SessionEvent,
    SessionId, SessionInfo,
};
use tokio::io::ReadBuf;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::coordinator::{CallHandle, IncomingCall, CALL_EVENTS};
use crate::ready::ReadySet;
use crate::timer::Timer;
use session_core_runtime::sockets;

/// Commands handled per wake-up before yielding.
const COMMANDS_PER_WAKEUP: usize = 64;
/// How long the task lingers to end calls once every handle is gone.
const ORPHAN_GRACE: Duration = Duration::from_secs(4);

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// A request from the application's handles to the task.
pub(crate) enum Request {
    /// Place a call and open its event channel (for a [`CallHandle`]).
    MakeCall {
        target: String,
        options: CallOptions,
        reply: oneshot::Sender<Result<(SessionId, mpsc::Receiver<SessionEvent>), CommandError>>,
    },
    /// Run any endpoint command.
    Execute {
        command: Command,
        reply: oneshot::Sender<Result<SessionId, CommandError>>,
    },
    /// Audio for a call in `MediaMode::App`.
    PushAudio {
        session: SessionId,
        samples: Vec<i16>,
        reply: oneshot::Sender<Result<(), PushAudioError>>,
    },
    /// One frame of a call's received audio, with its RTP timestamp.
    PollAudio {
        session: SessionId,
        reply: oneshot::Sender<Option<(u32, Vec<i16>)>>,
    },
    /// Every session's summary.
    Sessions {
        reply: oneshot::Sender<Vec<SessionInfo>>,
    },
    /// One session's transition history.
    History {
        session: SessionId,
        reply: oneshot::Sender<Option<History>>,
    },
    Counters {
        session: SessionId,
        reply: oneshot::Sender<Option<RtpCounters>>,
    },
    Stats {
        reply: oneshot::Sender<DriverStats>,
    },
    Shutdown {
        grace: Duration,
        reply: oneshot::Sender<()>,
    },
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Request::MakeCall { .. } => "MakeCall",
            Request::Execute { command, .. } => command.name(),
            Request::PushAudio { .. } => "PushAudio",
            Request::PollAudio { .. } => "PollAudio",
            Request::Sessions { .. } => "Sessions",
            Request::History { .. } => "History",
            Request::Counters { .. } => "Counters",
            Request::Stats { .. } => "Stats",
            Request::Shutdown { .. } => "Shutdown",
        };
        f.write_str(name)
    }
}

/// Everything the task needs to start.
pub(crate) struct Setup {
    pub(crate) config: Config,
    pub(crate) tcp: bool,
    pub(crate) rtp_ports: Option<PortAllocator>,
    pub(crate) rtp_ip: Option<IpAddr>,
    pub(crate) limits: DriverLimits,
    pub(crate) commands: mpsc::Receiver<Request>,
    pub(crate) command_tx: mpsc::WeakSender<Request>,
    pub(crate) incoming: mpsc::Sender<IncomingCall>,
    pub(crate) events: broadcast::Sender<SessionEvent>,
    pub(crate) capture: Option<SharedCapture>,
}

/// The SIP capture a driver records into and its coordinator reads.
pub(crate) type SharedCapture = Arc<Mutex<SipCapture<std::time::Instant>>>;

/// Binds SIP and spawns the task. Returns the bound address, or the address that could
/// not be bound and why.
pub(crate) fn spawn(setup: Setup) -> Result<(SocketAddr, JoinHandle<()>), (SocketAddr, io::Error)> {
    let driver = Driver::bind(setup)?;
    let addr = driver.sip_addr;
    let task = tokio::spawn(async move {
        let mut driver = driver;
        std::future::poll_fn(|cx| driver.poll(cx)).await;
    });
    Ok((addr, task))
}

struct Conn {
    /// Wakes the driver with this connection's id marked ready.
    waker: Waker,
    remote: SocketAddr,
    stream: Option<TcpStream>,
    connecting: Option<Connecting>,
    reassembler: StreamReassembler,
    out: Vec<u8>,
}

struct RtpSocket {
    /// Wakes the driver with this socket's id marked ready.
    waker: Waker,
    socket: UdpSocket,
    session: SessionId,
    local: SocketAddr,
    queue: RetryQueue,
    port: Option<u16>,
}

struct Shutdown {
    deadline: tokio::time::Instant,
    replies: Vec<oneshot::Sender<()>>,
}

pub(crate) struct Driver {
    endpoint: Endpoint,
    epoch: Epoch,
    sip_addr: SocketAddr,
    udp: UdpSocket,
    udp_queue: RetryQueue,
    listener: Option<TcpListener>,
    conns: BTreeMap<u64, Conn>,
    conn_by_remote: BTreeMap<SocketAddr, u64>,
    /// Last traffic per TCP connection: idle ones are closed, the longest idle evicted at
    /// the connection limit.
    idle: IdleConnections<u64, session_core::Instant>,
    rtp: BTreeMap<u64, RtpSocket>,
    /// Connections and RTP sockets to poll on the next wake-up.
    ready: Arc<ReadySet>,
    media: MediaBook<u64>,
    next_id: u64,
    ports: Option<PortAllocator>,
    rtp_ip: IpAddr,
    limits: DriverLimits,
    commands: mpsc::Receiver<Request>,
    command_tx: mpsc::WeakSender<Request>,
    commands_closed: bool,
    incoming: mpsc::Sender<IncomingCall>,
    events: broadcast::Sender<SessionEvent>,
    calls: BTreeMap<SessionId, mpsc::Sender<SessionEvent>>,
    timer: Timer,
    shutdown: Option<Shutdown>,
    shutdown_timer: Timer,
    buf: Vec<u8>,
    scratch: Vec<u64>,
    /// Output queued during this wake-up that only a later poll writes.
    rewake: bool,
    stats: DriverStats,
    capture: Option<SharedCapture>,
}

impl Driver {
    fn bind(setup: Setup) -> Result<Driver, (SocketAddr, io::Error)> {
        let Setup {
            mut config,
            tcp,
            rtp_ports,
            rtp_ip,
            limits,
            commands,
            command_tx,
            incoming,
            events,
            capture,
        } = setup;
        let asked = config.sip_addr;
        let fail = |e| (asked, e);
        let (udp, listener) =
            sockets::bind_sip(asked, tcp, limits.socket_buffer_bytes).map_err(fail)?;
        let udp = UdpSocket::from_std(udp).map_err(fail)?;
        let listener = match listener {
            Some(l) => Some(TcpListener::from_std(l).map_err(fail)?),
            None => None,
        };
        let sip_addr = udp.local_addr().map_err(fail)?;
        config.sip_addr = sip_addr;
        sockets::advertise_for_wildcard(&mut config);
        tracing::info!(%sip_addr, tcp, "SIP bound");
        Ok(Driver {
            endpoint: Endpoint::new(config),
            epoch: Epoch::new(tokio::time::Instant::now().into_std()),
            sip_addr,
            udp,
            udp_queue: RetryQueue::new(limits.max_retry_datagrams, limits.max_retry_bytes),
            listener,
            conns: BTreeMap::new(),
            conn_by_remote: BTreeMap::new(),
            idle: IdleConnections::new(limits.tcp_idle_timeout),
            rtp: BTreeMap::new(),
            ready: Arc::new(ReadySet::default()),
            media: MediaBook::new(),
            next_id: 0,
            ports: rtp_ports,
            rtp_ip: rtp_ip.unwrap_or(sip_addr.ip()),
            buf: vec![0; limits.max_message_bytes.max(2048)],
            limits,
            commands,
            command_tx,
            commands_closed: false,
            incoming,
            events,
            calls: BTreeMap::new(),
            timer: Timer::new(),
            shutdown: None,
            shutdown_timer: Timer::new(),
            scratch: Vec::new(),
            rewake: false,
            stats: DriverStats::default(),
            capture,
        })
    }

    fn now(&self) -> session_core::Instant {
        self.epoch.to_core(tokio::time::Instant::now().into_std())
    }

    /// One wake-up. Ready when the task is finished (after shutdown).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut again = false;
        self.ready.register(cx.waker());
        again |= self.poll_commands(cx);
        again |= self.poll_udp(cx, None);
        again |= self.poll_accept(cx);
        // Only the connections and RTP sockets whose wakers fired (or that have new
        // output): each is polled with its own waker, so the next wake-up names it.
        let mut ready = std::mem::take(&mut self.scratch);
        self.ready.drain_into(&mut ready);
        for &id in &ready {
            let waker = match (self.conns.get(&id), self.rtp.get(&id)) {
                (Some(c), _) => c.waker.clone(),
                (None, Some(r)) => r.waker.clone(),
                (None, None) => continue,
            };
            let mut socket_cx = Context::from_waker(&waker);
            let unfinished = if self.conns.contains_key(&id) {
                self.poll_conn(&mut socket_cx, id)
            } else {
                self.poll_udp(&mut socket_cx, Some(id))
            };
            if unfinished {
                self.ready.mark(id);
                again = true;
            }
        }
        self.scratch = ready;
        self.poll_timers(cx);
        if self.finish_shutdown_if_done(cx) {
            return Poll::Ready(());
        }
        if std::mem::take(&mut self.rewake) {
            again = true;
        }
        if again {
            // Budget spent (or output queued for a later write) with work left: yield, and come straight back.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Returns true when the budget ran out with commands left.
    fn poll_commands(&mut self, cx: &mut Context<'_>) -> bool {
        if self.commands_closed {
            return false;
        }
        for _ in 0..COMMANDS_PER_WAKEUP {
            match self.commands.poll_recv(cx) {
                Poll::Ready(Some(cmd)) => self.command(cmd),
                Poll::Ready(None) => {
                    // Every handle is gone: nobody can end the calls but us.
                    self.commands_closed = true;
                    if self.shutdown.is_none() {
                        tracing::debug!("all handles dropped: shutting down");
                        self.begin_shutdown(ORPHAN_GRACE, None);
                    }
                    return false;
                }
                Poll::Pending => return false,
            }
        }
        true
    }

    fn command(&mut self, request: Request) {
        let now = self.now();
        match request {
            Request::MakeCall {
                target,
                options,
                reply,
            } => {
                let r = self
                    .endpoint
                    .make_call(now, &target, options)
                    .map(|session| {
                        let (tx, rx) = mpsc::channel(CALL_EVENTS);
                        self.calls.insert(session, tx);
                        (session, rx)
                    });
                let _ = reply.send(r);
            }
            Request::Execute { command, reply } => {
                let _ = reply.send(self.endpoint.execute(now, command));
            }
            Request::PushAudio {
                session,
                samples,
                reply,
            } => {
                let _ = reply.send(self.endpoint.push_audio(session, &samples));
            }
            Request::PollAudio { session, reply } => {
                let mut frame = Vec::new();
                let r = self
                    .endpoint
                    .poll_audio(session, &mut frame)
                    .map(|ts| (ts, frame));
                let _ = reply.send(r);
            }
            Request::Sessions { reply } => {
                let _ = reply.send(self.endpoint.sessions().collect());
            }
            Request::History { session, reply } => {
                let _ = reply.send(self.endpoint.history(session).cloned());
            }
            Request::Counters { session, reply } => {
                let _ = reply.send(self.media.counters(session));
            }
            Request::Stats { reply } => {
                let _ = reply.send(self.stats);
            }
            Request::Shutdown { grace, reply } => self.begin_shutdown(grace, Some(reply)),
        }
        self.drain(now);
    }

    fn begin_shutdown(&mut self, grace: Duration, reply: Option<oneshot::Sender<()>>) {
        let now = self.now();
        if self.shutdown.is_none() {
            self.listener = None;
            self.endpoint.shutdown(now);
            self.drain(now);
            let deadline = tokio::time::Instant::now() + grace;
            self.shutdown_timer.arm(Some(deadline));
            self.shutdown = Some(Shutdown {
                deadline,
                replies: Vec::new(),
            });
        }
        if let (Some(s), Some(r)) = (self.shutdown.as_mut(), reply) {
            s.replies.push(r);
        }
    }

    fn finish_shutdown_if_done(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(s) = self.shutdown.as_ref() else {
            return false;
        };
        let idle = self.endpoint.is_idle()
            && self.udp_queue.is_empty()
            && self.rtp.values().all(|r| r.queue.is_empty())
            && self.conns.values().all(|c| c.out.is_empty());
        let late = tokio::time::Instant::now() >= s.deadline;
        if !idle && !late {
            let _ = self
                .shutdown_timer
                .poll_expired(cx, tokio::time::Instant::now());
            return false;
        }
        if !idle {
            let states: Vec<String> = self.endpoint.sessions().map(|i| i.state).collect();
            if !states.is_empty() {
                tracing::warn!(?states, "shutdown grace over with calls still ending");
            } else {
                // Every call ended; only transactions absorbing retransmissions (Timers
                // D, J, K of RFC 3261 §17) were left, which is harmless to cut short.
                tracing::debug!("shutdown grace over with transactions still completing");
            }
        }
        let replies = self.shutdown.take().map(|s| s.replies).unwrap_or_default();
        self.conns.clear();
        self.conn_by_remote.clear();
        self.idle = IdleConnections::new(self.limits.tcp_idle_timeout);
        self.rtp.clear();
        self.calls.clear();
        for r in replies {
            let _ = r.send(());
        }
        tracing::info!(sip = %self.sip_addr, "stopped");
        true
    }

    /// Reads the SIP socket (`None`) or an RTP socket, flushing its queue first. True
    /// when the read budget ran out before `WouldBlock`.
    fn poll_udp(&mut self, cx: &mut Context<'_>, rtp: Option<u64>) -> bool {
        self.flush_udp(cx, rtp);
        let now = self.now();
        for _ in 0..self.limits.reads_per_wakeup {
            let (socket, local) = match rtp {
                None => (&self.udp, self.sip_addr),
                Some(id) => match self.rtp.get(&id) {
                    Some(r) => (&r.socket, r.local),
                    None => return false,
                },
            };
            let mut rb = ReadBuf::new(&mut self.buf);
            let remote = match socket.poll_recv_from(cx, &mut rb) {
                Poll::Pending => return false,
                Poll::Ready(Ok(remote)) => remote,
                Poll::Ready(Err(e)) => {
                    // ICMP errors for earlier sends surface here on Linux: not fatal.
                    tracing::debug!(%local, error = %e, "UDP receive error");
                    continue;
                }
            };
            let n = rb.filled().len();
            self.stats.datagrams_received += 1;
            if rtp.is_some() {
                self.media.record_received(local, n);
            } else {
                self.capture(Direction::Received, local, remote, &self.buf[..n]);
            }
            self.endpoint
                .handle_datagram(now, local, remote, Transport::Udp, &self.buf[..n]);
            self.drain(now);
        }
        true
    }

    fn flush_udp(&mut self, cx: &mut Context<'_>, rtp: Option<u64>) {
        loop {
            let (socket, queue) = match rtp {
                None => (&self.udp, &mut self.udp_queue),
                Some(id) => match self.rtp.get_mut(&id) {
                    Some(r) => (&r.socket, &mut r.queue),
                    None => return,
                },
            };
            let Some(t) = queue.front() else {
                return;
            };
            match socket.poll_send_ready(cx) {
                Poll::Pending => return,
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "UDP socket error");
                    return;
                }
                Poll::Ready(Ok(())) => {}
            }
            match socket.try_send_to(&t.payload, t.remote) {
                Ok(_) => {
                    let (local, len) = (t.local, t.payload.len());
                    let sent = queue.pop_front();
                    self.stats.datagrams_sent += 1;
                    if rtp.is_some() {
                        self.media.record_sent(local, len);
                    } else if let Some(t) = sent {
                        self.capture(Direction::Sent, local, t.remote, &t.payload);
                    }
                }
                // Readiness was stale; the next poll_send_ready registers the waker.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::debug!(remote = %t.remote, error = %e, "UDP send failed");
                    queue.pop_front();
                    self.stats.datagrams_dropped += 1;
                }
            }
        }
    }

    /// Accepts TCP connections. True when the budget ran out.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> bool {
        for _ in 0..self.limits.reads_per_wakeup {
            let Some(listener) = self.listener.as_ref() else {
                return false;
            };
            let (stream, remote) = match listener.poll_accept(cx) {
                Poll::Pending => return false,
                Poll::Ready(Ok(pair)) => pair,
                Poll::Ready(Err(e)) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    return false;
                }
            };
            if !self.make_room_for_a_connection() {
                tracing::warn!(%remote, "TCP connection refused: connection limit reached");
                self.stats.connections_refused += 1;
                continue;
            }
            let _ = stream.set_nodelay(true);
            self.insert_conn(Conn {
                waker: Waker::noop().clone(),
                remote,
                stream: Some(stream),
                connecting: None,
                reassembler: StreamReassembler::new(self.limits.max_message_bytes),
                out: Vec::new(),
            });
            self.stats.connections_accepted += 1;
            tracing::debug!(%remote, "TCP connection accepted");
        }
        true
    }

    /// At the connection limit, closes the connection idle for longest; false when none
    /// could be closed.
    fn make_room_for_a_connection(&mut self) -> bool {
        if self.conn_by_remote.len() < self.limits.max_tcp_connections {
            return true;
        }
        let Some(id) = self.idle.longest_idle() else {
            return false;
        };
        tracing::debug!(
            id,
            "connection limit: closing the longest idle TCP connection"
        );
        self.stats.connections_evicted += 1;
        self.close_conn(id);
        self.conn_by_remote.len() < self.limits.max_tcp_connections
    }

    /// Closes the TCP connections that carried nothing for the idle timeout.
    fn close_idle_conns(&mut self, now: session_core::Instant) {
        for id in self.idle.expired(now) {
            tracing::debug!(id, "closing idle TCP connection");
            self.stats.connections_closed_idle += 1;
            self.close_conn(id);
        }
    }

    fn insert_conn(&mut self, mut conn: Conn) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        conn.waker = self.ready.waker(id);
        self.ready.mark(id);
        self.rewake = true;
        if let Some(old) = self.conn_by_remote.insert(conn.remote, id) {
            self.conns.remove(&old);
            self.idle.remove(&old);
        }
        self.conns.insert(id, conn);
        let now = self.now();
        self.idle.touch(id, now);
        id
    }

    fn close_conn(&mut self, id: u64) {
        self.idle.remove(&id);
        if let Some(conn) = self.conns.remove(&id) {
            if self.conn_by_remote.get(&conn.remote) == Some(&id) {
                self.conn_by_remote.remove(&conn.remote);
            }
            tracing::debug!(remote = %conn.remote, "TCP connection closed");
        }
    }

    /// Drives one TCP connection: finish connecting, write, read. True when the read
    /// budget ran out.
    fn poll_conn(&mut self, cx: &mut Context<'_>, id: u64) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        if let Some(fut) = conn.connecting.as_mut() {
            match fut.as_mut().poll(cx) {
                Poll::Pending => return false,
                Poll::Ready(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    conn.stream = Some(stream);
                    conn.connecting = None;
                }
                Poll::Ready(Err(e)) => {
                    tracing::warn!(remote = %conn.remote, error = %e, "TCP connect failed");
                    self.close_conn(id);
                    return false;
                }
            }
        }
        if !self.flush_conn(cx, id) {
            return false;
        }
        let now = self.now();
        for _ in 0..self.limits.reads_per_wakeup {
            let Some(conn) = self.conns.get_mut(&id) else {
                return false;
            };
            let Some(stream) = conn.stream.as_ref() else {
                return false;
            };
            match stream.poll_read_ready(cx) {
                Poll::Pending => return false,
                Poll::Ready(Err(e)) => {
                    tracing::debug!(remote = %conn.remote, error = %e, "TCP error");
                    self.close_conn(id);
                    return false;
                }
                Poll::Ready(Ok(())) => {}
            }
            match stream.try_read(&mut self.buf) {
                Ok(0) => {
                    self.close_conn(id);
                    return false;
                }
                Ok(n) => {
                    conn.reassembler.push(&self.buf[..n]);
                    let now = self.now();
                    self.idle.touch(id, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    tracing::debug!(remote = %conn.remote, error = %e, "TCP read error");
                    self.close_conn(id);
                    return false;
                }
            }
            if !self.deliver_frames(cx, id, now) {
                return false;
            }
        }
        true
    }

    /// Feeds every buffered message of a connection to the endpoint. False when the
    /// connection was closed.
    fn deliver_frames(
        &mut self,
        cx: &mut Context<'_>,
        id: u64,
        now: session_core::Instant,
    ) -> bool {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return false;
            };
            let remote = conn.remote;
            match conn.reassembler.next_frame() {
                Ok(Some(Frame::Message(message))) => {
                    self.stats.stream_messages_received += 1;
                    self.endpoint.handle_datagram(
                        now,
                        self.sip_addr,
                        remote,
                        Transport::Tcp,
                        &message,
                    );
                    self.drain(now);
                }
                Ok(Some(Frame::Ping)) => {
                    conn.out.extend_from_slice(b"\r\n");
                    self.rewake = true;
                    if !self.flush_conn(cx, id) {
                        return false;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return true,
                Err(e) => {
                    tracing::warn!(%remote, error = %e, "closing TCP connection: bad framing");
                    self.stats.connections_refused += 1;
                    self.close_conn(id);
                    return false;
                }
            }
        }
    }

    /// Writes what a connection has queued. False when it was closed.
    fn flush_conn(&mut self, cx: &mut Context<'_>, id: u64) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        let Some(stream) = conn.stream.as_ref() else {
            return true;
        };
        while !conn.out.is_empty() {
            match stream.poll_write_ready(cx) {
                Poll::Pending => return true,
                Poll::Ready(Err(_)) => {
                    self.close_conn(id);
                    return false;
                }
                Poll::Ready(Ok(())) => {}
            }
            match stream.try_write(&conn.out) {
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::debug!(remote = %conn.remote, error = %e, "TCP write error");
                    self.close_conn(id);
                    return false;
                }
            }
        }
        true
    }

    /// Arms the core's timer at its deadline and fires it when the clock says so.
    fn poll_timers(&mut self, cx: &mut Context<'_>) {
        // A few rounds: handling a timer may set an earlier or equal deadline.
        for _ in 0..8 {
            let deadline = [self.endpoint.poll_timeout(), self.idle.next_expiry()]
                .into_iter()
                .flatten()
                .min()
                .map(|t| tokio::time::Instant::from_std(self.epoch.to_runtime(t)));
            self.timer.arm(deadline);
            match self.timer.poll_expired(cx, tokio::time::Instant::now()) {
                Poll::Pending => return,
                Poll::Ready(()) => {
                    let now = self.now();
                    self.endpoint.handle_timeout(now);
                    self.drain(now);
                    self.close_idle_conns(now);
                }
            }
        }
        cx.waker().wake_by_ref();
    }

    /// Drains the endpoint's outputs.
    fn drain(&mut self, now: session_core::Instant) {
        while let Some(output) = self.endpoint.poll_output() {
            match output {
                Output::Transmit(t) => self.transmit(t),
                Output::Media(MediaRequest::Open { session }) => {
                    let input = self.open_media(session);
                    self.endpoint.handle_media(now, input);
                }
                Output::Media(MediaRequest::Close { session, .. }) => self.close_media(session),
                Output::Event(event) => self.dispatch_event(now, event),
                other => tracing::warn!(?other, "output not understood by this driver"),
            }
        }
    }

    fn dispatch_event(&mut self, now: session_core::Instant, event: SessionEvent) {
        let session = event.session();
        if let SessionEvent::IncomingCall { from, to, .. } = &event {
            self.offer_incoming(now, session, from.clone(), to.clone());
        }
        if let Some(tx) = self.calls.get(&session) {
            match tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => self.stats.events_dropped += 1,
                // The handle was dropped: nobody reads this call's channel any more.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.calls.remove(&session);
                }
            }
        }
        if matches!(event, SessionEvent::Terminated { .. }) {
            self.calls.remove(&session);
        }
        let _ = self.events.send(event);
    }

    fn offer_incoming(
        &mut self,
        now: session_core::Instant,
        session: SessionId,
        from: String,
        to: String,
    ) {
        let Some(commands) = self.command_tx.upgrade() else {
            let _ = self.endpoint.reject(now, session, 480);
            return;
        };
        let (tx, rx) = mpsc::channel(CALL_EVENTS);
        let call = IncomingCall {
            from,
            to,
            call: CallHandle::new(session, commands, rx),
        };
        match self.incoming.try_send(call) {
            Ok(()) => {
                self.calls.insert(session, tx);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(%session, "incoming call rejected: application not keeping up");
                let _ = self.endpoint.reject(now, session, 503);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!(%session, "incoming call rejected: nobody takes calls");
                let _ = self.endpoint.reject(now, session, 480);
            }
        }
    }

    /// Records a SIP datagram in the capture, when one is on.
    fn capture(&self, direction: Direction, local: SocketAddr, remote: SocketAddr, bytes: &[u8]) {
        if let Some(capture) = &self.capture {
            let at = tokio::time::Instant::now().into_std();
            // A poisoned lock only means a reader panicked; the capture itself is sound.
            let mut c = capture.lock().unwrap_or_else(|e| e.into_inner());
            c.record(at, direction, local, remote, Transport::Udp, bytes);
        }
    }

    fn transmit(&mut self, t: Transmit) {
        match t.transport {
            Transport::Udp => self.transmit_udp(t),
            Transport::Tcp => self.transmit_tcp(t),
            ref other => {
                tracing::warn!(transport = %other, remote = %t.remote, "transport not supported");
                self.stats.datagrams_dropped += 1;
            }
        }
    }

    fn transmit_udp(&mut self, t: Transmit) {
        let rtp = match self.media.source(t.local, self.sip_addr) {
            Some(Source::Sip) => None,
            Some(Source::Rtp(handle)) => Some(handle),
            None => {
                tracing::debug!(local = %t.local, "no socket at the source address");
                self.stats.datagrams_dropped += 1;
                return;
            }
        };
        let (socket, queue) = match rtp {
            None => (&self.udp, &mut self.udp_queue),
            Some(id) => match self.rtp.get_mut(&id) {
                Some(r) => (&r.socket, &mut r.queue),
                None => return,
            },
        };
        // Behind anything already waiting, so datagrams leave in order.
        let result = if queue.is_empty() {
            socket.try_send_to(&t.payload, t.remote)
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        };
        match result {
            Ok(_) => {
                self.stats.datagrams_sent += 1;
                if rtp.is_some() {
                    self.media.record_sent(t.local, t.payload.len());
                } else {
                    self.capture(Direction::Sent, t.local, t.remote, &t.payload);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match queue.push_back(t) {
                // The next poll's flush registers for writability.
                Ok(()) => {
                    self.stats.datagrams_deferred += 1;
                    if let Some(id) = rtp {
                        self.ready.mark(id);
                    }
                    self.rewake = true;
                }
                Err(full) => {
                    tracing::warn!(%full, "UDP datagram dropped");
                    self.stats.datagrams_dropped += 1;
                }
            },
            Err(e) => {
                tracing::debug!(remote = %t.remote, error = %e, "UDP send failed");
                self.stats.datagrams_dropped += 1;
            }
        }
    }

    fn transmit_tcp(&mut self, t: Transmit) {
        let id = match self.conn_by_remote.get(&t.remote) {
            Some(&id) => id,
            None => {
                if !self.make_room_for_a_connection() {
                    tracing::warn!(remote = %t.remote, "no TCP connection: limit reached");
                    self.stats.datagrams_dropped += 1;
                    return;
                }
                self.stats.connections_opened += 1;
                tracing::debug!(remote = %t.remote, "TCP connection opening");
                self.insert_conn(Conn {
                    waker: Waker::noop().clone(),
                    remote: t.remote,
                    stream: None,
                    connecting: Some(Box::pin(TcpStream::connect(t.remote))),
                    reassembler: StreamReassembler::new(self.limits.max_message_bytes),
                    out: Vec::new(),
                })
            }
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.out.len() + t.payload.len() > self.limits.max_tcp_send_queue_bytes {
            tracing::warn!(remote = %t.remote, "closing TCP connection: send queue full");
            self.stats.connections_refused += 1;
            self.close_conn(id);
            return;
        }
        // Written by the next poll of the connection.
        conn.out.extend_from_slice(&t.payload);
        let now = self.now();
        self.idle.touch(id, now);
        self.ready.mark(id);
        self.rewake = true;
    }

    /// Binds an RTP socket for `session` and says how it went, as the core's input.
    pub(crate) fn open_media(&mut self, session: SessionId) -> MediaInput {
        let Some((socket, port)) = self.bind_rtp() else {
            tracing::warn!(%session, "no RTP socket: no free port");
            return MediaInput::Failed { session };
        };
        let socket = match UdpSocket::from_std(socket) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%session, error = %e, "cannot register RTP socket");
                self.release_port(port);
                return MediaInput::Failed { session };
            }
        };
        let Ok(local) = socket.local_addr() else {
            self.release_port(port);
            return MediaInput::Failed { session };
        };
        let id = self.next_id;
        self.next_id += 1;
        self.ready.mark(id);
        self.rewake = true;
        self.rtp.insert(
            id,
            RtpSocket {
                waker: self.ready.waker(id),
                socket,
                session,
                local,
                queue: RetryQueue::new(
                    self.limits.max_retry_datagrams,
                    self.limits.max_retry_bytes,
                ),
                port,
            },
        );
        if let Some(old) = self.media.insert(session, local, id) {
            self.drop_rtp(old);
        }
        tracing::debug!(%session, %local, "RTP socket open");
        MediaInput::Ready {
            session,
            local_rtp: local,
        }
    }

    fn bind_rtp(&mut self) -> Option<(std::net::UdpSocket, Option<u16>)> {
        sockets::bind_rtp(
            self.ports.as_mut(),
            self.rtp_ip,
            self.limits.socket_buffer_bytes,
        )
    }

    fn release_port(&mut self, port: Option<u16>) {
        if let (Some(ports), Some(p)) = (self.ports.as_mut(), port) {
            ports.release(p);
        }
    }

    pub(crate) fn close_media(&mut self, session: SessionId) {
        if let Some(socket) = self.media.remove(session) {
            self.drop_rtp(socket.handle);
            tracing::debug!(%session, local = %socket.local_rtp, "RTP socket closed");
        }
    }

    fn drop_rtp(&mut self, id: u64) {
        if let Some(r) = self.rtp.remove(&id) {
            self.release_port(r.port);
            if self.media.socket(r.session).map(|s| s.handle) == Some(id) {
                self.media.remove(r.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Output dispatch driven by hand: the interim core emits no media requests yet.

    use super::*;

    /// A setup and the command sender that keeps its driver from shutting down.
    fn setup(ports: Option<PortAllocator>) -> (Setup, mpsc::Sender<Request>) {
        let (tx, commands) = mpsc::channel(4);
        let (incoming, _) = mpsc::channel(4);
        let (events, _) = broadcast::channel(4);
        let setup = Setup {
            config: Config {
                seed: 1,
                user: "t".into(),
                ..Config::new("127.0.0.1:0".parse().unwrap())
            },
            tcp: true,
            rtp_ports: ports,
            rtp_ip: None,
            limits: DriverLimits::default(),
            commands,
            command_tx: tx.downgrade(),
            incoming,
            events,
            capture: None,
        };
        (setup, tx)
    }

    #[tokio::test]
    async fn media_open_binds_in_range_counts_sends_and_close_frees_the_port() {
        let (setup, _commands) = setup(Some(PortAllocator::new(43_000, 43_998).unwrap()));
        let mut d = Driver::bind(setup).unwrap();
        let MediaInput::Ready { local_rtp, .. } = d.open_media(SessionId(4)) else {
            panic!("no RTP socket");
        };
        assert!((43_000..=43_998).contains(&local_rtp.port()));
        assert_eq!(local_rtp.port() % 2, 0);
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        d.transmit(Transmit {
            local: local_rtp,
            remote: peer.local_addr().unwrap(),
            transport: Transport::Udp,
            payload: vec![0x80; 172],
        });
        // A new socket's readiness is unknown to tokio until the reactor reports it, so
        // the first send is queued and goes out from a poll of the driver.
        let mut buf = [0u8; 256];
        let recv = peer.recv_from(&mut buf);
        tokio::pin!(recv);
        let received = std::future::poll_fn(|cx| {
            let _ = d.poll(cx);
            recv.as_mut().poll(cx)
        });
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), received)
            .await
            .expect("datagram sent in time")
            .unwrap();
        assert_eq!((n, from), (172, local_rtp));
        d.close_media(SessionId(4));
        assert_eq!(d.media.counters(SessionId(4)).unwrap().packets_sent, 1);
        assert_eq!(d.ports.as_ref().unwrap().in_use(), 0);
        std::net::UdpSocket::bind(local_rtp).expect("port free again");
    }

    /// Polls the driver until `done` holds, at most two seconds.
    async fn drive_until(d: &mut Driver, done: impl Fn(&Driver) -> bool) {
        let run = std::future::poll_fn(|cx| {
            let _ = d.poll(cx);
            if done(d) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        tokio::time::timeout(Duration::from_secs(2), run)
            .await
            .expect("condition not reached in time");
    }

    #[tokio::test]
    async fn rtp_arriving_on_one_of_many_sockets_wakes_the_driver_and_is_counted() {
        let (setup, _commands) = setup(None);
        let mut d = Driver::bind(setup).unwrap();
        let mut addrs = Vec::new();
        for n in 1..=20 {
            let MediaInput::Ready { local_rtp, .. } = d.open_media(SessionId(n)) else {
                panic!("no RTP socket");
            };
            addrs.push(local_rtp);
        }
        // First poll: every new socket registers its own waker.
        drive_until(&mut d, |_| true).await;
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(&[0x80; 60], addrs[12]).unwrap();
        drive_until(&mut d, |d| {
            d.media
                .counters(SessionId(13))
                .is_some_and(|c| c.packets_received == 1)
        })
        .await;
        let others: u64 = (1..=20)
            .filter(|&n| n != 13)
            .map(|n| d.media.counters(SessionId(n)).unwrap().packets_received)
            .sum();
        assert_eq!(others, 0);
    }

    #[tokio::test]
    async fn a_tcp_transmit_to_a_new_peer_connects_and_delivers() {
        let (setup, _commands) = setup(None);
        let mut d = Driver::bind(setup).unwrap();
        let peer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let payload = b"BYE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n".to_vec();
        d.transmit(Transmit {
            local: d.sip_addr,
            remote: peer.local_addr().unwrap(),
            transport: Transport::Tcp,
            payload: payload.clone(),
        });
        let accept = peer.accept();
        tokio::pin!(accept);
        let (mut stream, _) = tokio::time::timeout(
            Duration::from_secs(2),
            std::future::poll_fn(|cx| {
                let _ = d.poll(cx);
                accept.as_mut().poll(cx)
            }),
        )
        .await
        .expect("connected in time")
        .unwrap();
        drive_until(&mut d, |d| d.conns.values().all(|c| c.out.is_empty())).await;
        let mut got = vec![0u8; payload.len()];
        tokio::io::AsyncReadExt::read_exact(&mut stream, &mut got)
            .await
            .unwrap();
        assert_eq!(got, payload);
        assert_eq!(d.stats.connections_opened, 1);
    }

    #[tokio::test]
    async fn an_incoming_call_nobody_takes_is_not_handed_out() {
        let (setup, _commands) = setup(None);
        let mut d = Driver::bind(setup).unwrap();
        let now = d.now();
        d.dispatch_event(
            now,
            SessionEvent::IncomingCall {
                session: SessionId(1),
                from: "sip:a@x".into(),
                to: "sip:b@y".into(),
            },
        );
        assert!(d.calls.is_empty(), "no per-call channel for a refused call");
    }
}
