//! The domain's decisions under arbitrary commands: a history of steps,
//! each an actor's role, minutes passing and a command, run through the
//! aggregate's handle and evolve as the command handler runs them. Never a
//! panic, whatever the order or content; every event decided encodes and
//! decodes back to itself.
#![no_main]

use aftersales_domain::audit::SamplingAudit;
use aftersales_domain::case::Case;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::RepairOrder;
use aftersales_domain::{Actor, Aggregate, Context, DomainEvent, Policy, Role};
use chrono::{DateTime, Duration, Utc};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(bound = "")]
struct Step<A: Aggregate> {
    role: Role,
    #[serde(default)]
    minutes: u32,
    command: A::Command,
}

fn run<A: Aggregate>(lines: &[u8]) {
    let policy = Policy::default();
    let id = uuid::Uuid::from_u128(0x0193_a1b2_c3d4_7e5f_8a9b_0c1d_2e3f_4a5b);
    let mut now: DateTime<Utc> = "2026-03-02T01:00:00Z".parse().unwrap();
    let mut state = A::default();
    for line in lines.split(|b| *b == b'\n') {
        let Ok(step) = serde_json::from_slice::<Step<A>>(line) else {
            continue;
        };
        now += Duration::minutes(i64::from(step.minutes.min(60 * 24 * 400)));
        let actor = Actor::new("fuzz", step.role);
        let ctx = Context {
            aggregate_id: id,
            now,
            actor: &actor,
            policy: &policy,
        };
        let Ok(events) = state.handle(&step.command, &ctx) else {
            continue;
        };
        for event in &events {
            let encoded = event.encode().expect("a decided event encodes");
            let decoded = A::Event::decode(event.event_type(), &encoded).expect("and decodes");
            assert_eq!(&decoded, event);
            state.evolve(event);
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Some((which, lines)) = bytes.split_first() else {
        return;
    };
    match which % 5 {
        0 => run::<Case>(lines),
        1 => run::<UnpaidOrder>(lines),
        2 => run::<RepairOrder>(lines),
        3 => run::<SamplingAudit>(lines),
        _ => run::<AccessGrant>(lines),
    }
});
