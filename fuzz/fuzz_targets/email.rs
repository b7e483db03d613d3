//! E-mail normalisation never panics and is idempotent.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(email) = hotline_model::email::normalize_email(text) {
        assert_eq!(
            hotline_model::email::normalize_email(&email).as_deref(),
            Ok(email.as_str())
        );
    }
});
