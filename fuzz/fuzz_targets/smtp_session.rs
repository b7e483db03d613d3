//! Whatever an SMTP client sends to Hotline's listener, cut into reads anywhere: the session
//! never panics, a mail it hands out is never larger than its limit, and nothing is
//! acknowledged before the shell says it is stored.
#![no_main]

use hotline_channels::email::smtpd::{Event, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = Session::new("mx.test", 4096, |a| a.ends_with("@bank.test"));
    // The first byte says where the input is cut into reads.
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for chunk in data.chunks(step) {
        for e in s.feed(chunk) {
            match e {
                Event::Mail { data, to, .. } => {
                    assert!(data.len() <= 4096);
                    assert!(!to.is_empty());
                    let _ = s.stored();
                }
                Event::Reply(r) => assert!(!r.starts_with("250 2.0.0 OK: stored")),
                Event::Close => {}
            }
        }
    }
});
