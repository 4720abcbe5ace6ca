//! Stored events as the product reads them back: an exported line (what
//! `events import` parses), and each aggregate's decoder of a type name and
//! JSON data. Whatever the bytes, decoding answers Ok or Err; an event that
//! decodes encodes back to data that decodes to the same event.
#![no_main]

use aftersales_domain::audit::SamplingAudit;
use aftersales_domain::case::Case;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::RepairOrder;
use aftersales_domain::{Aggregate, DomainEvent};
use aftersales_store::RecordedEvent;
use libfuzzer_sys::fuzz_target;

fn round_trip<A: Aggregate>(event_type: &str, data: &str) {
    if let Ok(event) = A::Event::decode(event_type, data) {
        assert_eq!(event.event_type(), event_type);
        let encoded = event.encode().expect("a decoded event encodes");
        let again = A::Event::decode(event_type, &encoded).expect("an encoded event decodes");
        assert_eq!(again, event);
    }
}

fuzz_target!(|bytes: &[u8]| {
    let _ = serde_json::from_slice::<RecordedEvent>(bytes);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    // The first line names the type, the rest is the data.
    let (event_type, data) = text.split_once('\n').unwrap_or((text, "{}"));
    round_trip::<Case>(event_type, data);
    round_trip::<UnpaidOrder>(event_type, data);
    round_trip::<RepairOrder>(event_type, data);
    round_trip::<SamplingAudit>(event_type, data);
    round_trip::<AccessGrant>(event_type, data);
});
