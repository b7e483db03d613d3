//! A whole e-mail as it may arrive from any mailbox: parsing (MIME, encodings, threading ids,
//! the machine checks, bounce reports) and sanitising never panic, and what comes out is
//! always kept (`dedupe_key` is never empty).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let m = hotline_channels::email::inbound::parse(data);
    assert!(!m.dedupe_key.is_empty());
    let _ = hotline_channels::email::inbound::find_ticket(&m.subject);
});
