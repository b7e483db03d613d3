//! Phone normalisation never panics; what it accepts is E.164 and normalises to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for region in ["RU", "GB", "US"] {
        if let Ok(e164) = hotline_model::phone::normalize_phone(text, region) {
            assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(
                hotline_model::phone::normalize_phone(&e164, region).as_deref(),
                Ok(e164.as_str())
            );
        }
    }
});
