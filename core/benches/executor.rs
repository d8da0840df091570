//! Events per second through the executor on the compiled default table.
//!
//! `cargo bench -p session-core --bench executor`. Budget (ARCHITECTURE.md): at least
//! 5 million events/s. The handler does nothing, so the figure is the executor's own
//! cost: index lookup, match fields, guards, the action loop, condition updates, the
//! history entry.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use session_core::state_machine::{process, ActionError, ActionHandler, SessionState};
use session_core::state_table::{Action, CompiledTable, Event, EventType, GuardName, Role};
use session_core::Instant;

/// Accepts every action and answers every adapter guard with yes.
struct Nop;

impl ActionHandler for Nop {
    fn execute(
        &mut self,
        action: &Action,
        _: &Event,
        _: &mut SessionState,
        _: Instant,
    ) -> Result<(), ActionError> {
        black_box(action);
        Ok(())
    }

    fn guard(&self, _: GuardName, _: &Event, _: &SessionState) -> bool {
        true
    }
}

/// A whole outgoing call with a hold/resume, as the UAC sees it.
fn uac_call() -> Vec<Event> {
    use EventType::*;
    vec![
        Event::new(MakeCall),
        Event::new(MediaSessionReady),
        Event::new(DialogProvisional).with_status(100),
        Event::new(DialogProvisional).with_status(180),
        Event::new(Dialog200OK).with_status(200).with_sdp(),
        Event::new(HoldCall),
        Event::new(DialogReInviteAccepted)
            .with_status(200)
            .with_sdp(),
        Event::new(ResumeCall),
        Event::new(DialogReInviteAccepted)
            .with_status(200)
            .with_sdp(),
        Event::new(DialogReINVITE).with_remote_hold(),
        Event::new(HangupCall),
        Event::new(DialogByeResponse).with_status(200),
        Event::new(LingerExpired),
    ]
}

fn bench(c: &mut Criterion) {
    let table = CompiledTable::default_table();
    let mut group = c.benchmark_group("executor");

    let call = uac_call();
    group.throughput(Throughput::Elements(call.len() as u64));
    group.bench_function("uac_call_events_new_session_each_call", |b| {
        let mut h = Nop;
        b.iter(|| {
            let mut session = SessionState::new(&table, Role::Uac);
            for (i, e) in call.iter().enumerate() {
                let out = process(
                    &table,
                    &mut session,
                    e,
                    &mut h,
                    Instant::from_micros(i as u64),
                );
                let _ = black_box(out);
            }
            black_box(session.state())
        });
    });

    // Steady state: one established session, self-transitions with a guard pass.
    let mut session = SessionState::new(&table, Role::Uac);
    let mut h = Nop;
    for e in &call[..5] {
        let _ = process(&table, &mut session, e, &mut h, Instant::ZERO);
    }
    let events = [
        Event::new(EventType::SendDtmf),
        Event::new(EventType::DialogReINVITE).with_sdp(),
        Event::new(EventType::Dialog200OK).with_status(200),
        Event::new(EventType::DialogACK),
    ];
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("established_session_in_dialog_events", |b| {
        b.iter(|| {
            for e in &events {
                let out = process(&table, &mut session, e, &mut h, Instant::ZERO);
                let _ = black_box(out);
            }
        });
    });

    group.throughput(Throughput::Elements(1));
    group.bench_function("compile_default_table", |b| {
        b.iter(|| black_box(CompiledTable::default_table()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
