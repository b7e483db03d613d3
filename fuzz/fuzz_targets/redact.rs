//! Redaction never panics and leaves no run of nine digits behind.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let masked = hotline_model::redact::redact(&text);
    let longest = masked
        .split(|c: char| !c.is_ascii_digit() && !" -().\u{a0}".contains(c))
        .map(|run| run.chars().filter(char::is_ascii_digit).count())
        .max()
        .unwrap_or(0);
    assert!(longest < 9, "{text:?} -> {masked:?}");
});
