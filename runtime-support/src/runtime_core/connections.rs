//! The core's TCP connections (RFC 3261 §18): accepted or opened on demand, one per
//! remote address, cut into messages by Content-Length (§18.3) with RFC 5626 §3.5.1
//! keep-alive pings answered, closed when idle, when broken, or — the longest idle one
//! that carries no call — to make room at the connection limit.
//!
//! At the limit, as Kamailio's `tcp_max_connections` does, a new connection is refused
//! (accepted and closed at once) rather than letting the set grow, with one difference:
//! a connection that no call up goes by (a stale one, a scanner's) is closed first to
//! make room, so idle connections cannot lock every new peer out; a connection a call
//! still uses is never closed for a newcomer. A TCP peer cannot be sent a 503 before a
//! connection exists; the refused peer's transaction sees a transport error, which RFC
//! 3261 §8.1.3.1 has it treat as a 503, and RFC 3263 §4.3 moves it to the next server.

use std::io;
use std::net::SocketAddr;

use session_core::driver::{Direction, Frame, RecordedInput, StreamReassembler};
use session_core::endpoint::Transmit;
use session_core::sip::Transport;
use session_core::Instant;

use super::{tap_wire, Conn, Core, Progress, Slot};
use crate::io::Io;
use crate::sockets;
use crate::tap::Wire;

impl<R: Io> Core<R> {
    /// Takes a connection the runtime accepted, or refuses it at the connection limit.
    pub fn accept(&mut self, mut stream: R::Tcp, remote: SocketAddr, now: Instant) {
        if !self.make_room_for_a_connection() {
            tracing::warn!(%remote, "TCP connection refused: connection limit reached");
            self.stats.connections_refused += 1;
            return;
        }
        let Some(slot) = self.vacant_slot() else {
            tracing::warn!(%remote, "TCP connection refused: no free slot");
            self.stats.connections_refused += 1;
            return;
        };
        if let Err(e) = self.io.watch_accepted(slot, &mut stream) {
            tracing::warn!(%remote, error = %e, "cannot watch TCP connection");
            return;
        }
        self.insert_conn(stream, remote, true, now);
        self.stats.connections_accepted += 1;
        tracing::debug!(%remote, "TCP connection accepted");
    }

    /// Reads a TCP connection until `WouldBlock` or the budget, feeding each framed
    /// message to the endpoint; closes it at the peer's end or on broken framing.
    pub(super) fn read_tcp(&mut self, slot: usize, now: Instant) -> Progress {
        self.update_backlog(now);
        for _ in 0..self.limits.reads_per_wakeup {
            let Some(Slot::Tcp(conn)) = self.slots.get_mut(slot) else {
                return Progress::Closed;
            };
            if !conn.connected {
                return Progress::Blocked;
            }
            match R::read(&conn.stream, &mut self.buf) {
                Ok(0) => {
                    self.close_slot(slot);
                    return Progress::Closed;
                }
                Ok(n) => {
                    let wire = Wire {
                        direction: Direction::Received,
                        transport: Transport::Tcp,
                        local: self.sip_addr,
                        remote: conn.remote,
                        bytes: &self.buf[..n],
                    };
                    tap_wire(self.tap.as_deref(), wire);
                    conn.reassembler.push(&self.buf[..n]);
                    self.idle.touch(slot, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(remote = %conn.remote, error = %e, "TCP read error");
                    self.close_slot(slot);
                    return Progress::Closed;
                }
            }
            if !self.deliver_frames(slot, now) {
                return Progress::Closed;
            }
        }
        Progress::BudgetSpent
    }

    /// Writes what a connection has queued, finishing its set-up first if it is an
    /// outgoing one; closes it when the connect or a write fails.
    pub(super) fn flush_tcp(&mut self, slot: usize) -> Progress {
        let Some(Slot::Tcp(conn)) = self.slots.get_mut(slot) else {
            return Progress::Closed;
        };
        if !conn.connected {
            let connected = match R::take_error(&conn.stream) {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match R::peer_addr(&conn.stream) {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                    Err(e) => Err(e),
                },
            };
            match connected {
                Ok(true) => conn.connected = true,
                // Still connecting: wait for writability.
                Ok(false) => return Progress::Blocked,
                Err(e) => {
                    tracing::warn!(remote = %conn.remote, error = %e, "TCP connect failed");
                    self.close_slot(slot);
                    return Progress::Closed;
                }
            }
        }
        while !conn.out.is_empty() {
            match R::write(&conn.stream, &conn.out) {
                Ok(0) => return Progress::Blocked,
                Ok(n) => {
                    let wire = Wire {
                        direction: Direction::Sent,
                        transport: Transport::Tcp,
                        local: self.sip_addr,
                        remote: conn.remote,
                        bytes: &conn.out[..n],
                    };
                    tap_wire(self.tap.as_deref(), wire);
                    conn.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(remote = %conn.remote, error = %e, "TCP write error");
                    self.close_slot(slot);
                    return Progress::Closed;
                }
            }
        }
        Progress::Done
    }

    pub(super) fn transmit_tcp(&mut self, t: Transmit, now: Instant) {
        let slot = match self.conns.get(&t.remote) {
            Some(&slot) => slot,
            None => match self.connect(t.remote, now) {
                Some(slot) => slot,
                None => {
                    self.stats.datagrams_dropped += 1;
                    return;
                }
            },
        };
        let Some(Slot::Tcp(conn)) = self.slots.get(slot) else {
            return;
        };
        if conn.out.len() + t.payload.len() > self.limits.max_tcp_send_queue_bytes {
            tracing::warn!(remote = %t.remote, "closing TCP connection: send queue full");
            self.stats.connections_refused += 1;
            self.close_slot(slot);
            return;
        }
        self.idle.touch(slot, now);
        self.queue_tcp(slot, &t.payload);
    }

    /// Queues bytes on a connection and writes what the socket takes now.
    fn queue_tcp(&mut self, slot: usize, bytes: &[u8]) {
        let Some(Slot::Tcp(conn)) = self.slots.get_mut(slot) else {
            return;
        };
        conn.out.extend_from_slice(bytes);
        if self.flush_tcp(slot) == Progress::Blocked {
            self.io.output_queued(Some(slot));
        }
    }

    /// Opens a connection to `remote`, making room at the limit; `None` when it cannot.
    fn connect(&mut self, remote: SocketAddr, now: Instant) -> Option<usize> {
        if !self.make_room_for_a_connection() {
            tracing::warn!(%remote, "no TCP connection opened: connection limit reached");
            return None;
        }
        let slot = self.vacant_slot()?;
        let stream = match sockets::connect_tcp(remote).and_then(|s| self.io.adopt_tcp(slot, s)) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%remote, error = %e, "TCP connect failed");
                return None;
            }
        };
        self.stats.connections_opened += 1;
        tracing::debug!(%remote, "TCP connection opening");
        Some(self.insert_conn(stream, remote, false, now))
    }

    /// At the connection limit, closes the connection idle for longest that no call up
    /// goes by; false when none could be closed (every one carries a call).
    fn make_room_for_a_connection(&mut self) -> bool {
        if self.conns.len() < self.limits.max_tcp_connections {
            return true;
        }
        let in_calls = self.endpoint.stream_peers_in_calls();
        let slots = &self.slots;
        let Some(slot) = self.idle.longest_idle_where(|slot| match slots.get(slot) {
            Some(Slot::Tcp(conn)) => !in_calls.contains(&conn.remote),
            _ => true,
        }) else {
            return false;
        };
        tracing::debug!(
            slot,
            "connection limit: closing the longest idle TCP connection"
        );
        self.stats.connections_evicted += 1;
        self.close_slot(slot);
        self.conns.len() < self.limits.max_tcp_connections
    }

    /// Stores a connection in the slot [`Slots::vacant`] just named.
    fn insert_conn(
        &mut self,
        stream: R::Tcp,
        remote: SocketAddr,
        connected: bool,
        now: Instant,
    ) -> usize {
        let conn = Box::new(Conn {
            stream,
            remote,
            reassembler: StreamReassembler::new(self.limits.max_message_bytes),
            out: Vec::new(),
            connected,
        });
        let Ok(slot) = self.slots.insert(Slot::Tcp(conn)) else {
            unreachable!("the caller found a vacant slot just before");
        };
        if let Some(old) = self.conns.insert(remote, slot) {
            self.close_slot(old);
            self.conns.insert(remote, slot);
        }
        self.idle.touch(slot, now);
        slot
    }

    /// Feeds every complete message buffered on a connection to the endpoint and answers
    /// pings. False when the connection was closed for broken framing.
    fn deliver_frames(&mut self, slot: usize, now: Instant) -> bool {
        loop {
            let Some(Slot::Tcp(conn)) = self.slots.get_mut(slot) else {
                return false;
            };
            let remote = conn.remote;
            match conn.reassembler.next_frame() {
                Ok(Some(Frame::Message(message))) => {
                    self.stats.stream_messages_received += 1;
                    if let Some(recording) = self.recording.as_mut() {
                        let input = RecordedInput::Datagram {
                            local: self.sip_addr,
                            remote,
                            transport: Transport::Tcp,
                            bytes: message.to_vec(),
                        };
                        recording.input(now, input);
                    }
                    self.endpoint.handle_datagram(
                        now,
                        self.sip_addr,
                        remote,
                        Transport::Tcp,
                        &message,
                    );
                    self.drain(now);
                }
                Ok(Some(Frame::Ping)) => self.queue_tcp(slot, b"\r\n"),
                Ok(Some(_)) => {}
                Ok(None) => return true,
                Err(e) => {
                    tracing::warn!(%remote, error = %e, "closing TCP connection: bad framing");
                    self.stats.connections_refused += 1;
                    self.close_slot(slot);
                    return false;
                }
            }
        }
    }
}
