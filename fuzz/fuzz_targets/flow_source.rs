//! Flow and calendar files: reading never panics, whatever the bytes; the expression and
//! template parsers take any text.
#![no_main]
use hotline_flow::{load_calendars, load_flow, Expr, Known, Template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = load_flow("fuzz.yaml", text, &Known::default());
    let _ = load_calendars("fuzz.yaml", text, "Europe/Moscow");
    let _ = Expr::parse(text);
    let _ = Template::parse(text);
});
