//! Every response decoder and token parser of auditkit, fed arbitrary answers: the first two
//! bytes are the HTTP status (big-endian, clamped to 100..=599), the rest is the body.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [high, low, body @ ..] => (u16::from_be_bytes([*high, *low]), body),
        _ => return,
    };
    auditkit::fuzzing::decode_everything(status, body);
});
