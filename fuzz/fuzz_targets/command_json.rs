//! Command bodies as the JSON API receives them: any bytes, parsed as JSON
//! and wrapped the way the API wraps a body (`{"command", "data"}`), then
//! decoded into each aggregate's commands. Never a panic; a decoded command
//! serialises back to a value that decodes to the same command.
#![no_main]

use aftersales_domain::audit::SamplingAudit;
use aftersales_domain::case::Case;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::RepairOrder;
use aftersales_domain::{Aggregate, Command};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn decode<A: Aggregate>(name: &str, data: &Value) {
    let wrapped = json!({ "command": name, "data": data });
    if let Ok(command) = serde_json::from_value::<A::Command>(wrapped) {
        assert_eq!(command.name(), name);
        let value = serde_json::to_value(&command).expect("a command serialises");
        let again: A::Command = serde_json::from_value(value).expect("it decodes again");
        assert_eq!(again.name(), name);
    }
}

fuzz_target!(|bytes: &[u8]| {
    // The first line is the command's name (the API takes it from the path).
    let (name, body) = match bytes.iter().position(|b| *b == b'\n') {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (&b"RegisterCase"[..], bytes),
    };
    let Ok(name) = std::str::from_utf8(name) else {
        return;
    };
    let Ok(data) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    decode::<Case>(name, &data);
    decode::<UnpaidOrder>(name, &data);
    decode::<RepairOrder>(name, &data);
    decode::<SamplingAudit>(name, &data);
    decode::<AccessGrant>(name, &data);
});
