//! Field checks shared by every entry point (API, CLI, channels).

use crate::InvalidInput;

/// A required, trimmed, non-empty text of at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, InvalidInput> {
    let v = value.trim();
    if v.is_empty() {
        return Err(InvalidInput::new(field, "must not be empty"));
    }
    optional_text(field, v, max).map(|s| s.unwrap_or_default())
}

/// An optional text: blank becomes `None`; longer than `max` characters is refused.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<Option<String>, InvalidInput> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(InvalidInput::new(
            field,
            format!("at most {max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(InvalidInput::new(
            field,
            "control characters are not allowed",
        ));
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

/// Long free text (notes, scripts): kept as typed, bounded in size.
pub fn long_text(field: &str, value: &str, max_bytes: usize) -> Result<String, InvalidInput> {
    if value.len() > max_bytes {
        return Err(InvalidInput::new(
            field,
            format!("at most {max_bytes} bytes"),
        ));
    }
    if value.contains('\0') {
        return Err(InvalidInput::new(field, "NUL characters are not allowed"));
    }
    Ok(value.to_string())
}

/// A machine name: `[a-z0-9_.-]`, 1 to `max` characters, starting with a letter or digit.
pub fn token(field: &str, value: &str, max: usize) -> Result<String, InvalidInput> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(value.to_string())
    } else {
        Err(InvalidInput::new(
            field,
            format!(
                "1 to {max} characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit"
            ),
        ))
    }
}

/// Skill proficiency: 1 (basic) to 5 (expert).
pub fn proficiency(value: i64) -> Result<u8, InvalidInput> {
    u8::try_from(value)
        .ok()
        .filter(|p| (1..=5).contains(p))
        .ok_or_else(|| InvalidInput::new("proficiency", "must be 1 to 5"))
}

/// An agent's extension: 2 to 8 digits.
pub fn extension(value: &str) -> Result<String, InvalidInput> {
    let ok = (2..=8).contains(&value.len()) && value.chars().all(|c| c.is_ascii_digit());
    ok.then(|| value.to_string())
        .ok_or_else(|| InvalidInput::new("extension", "2 to 8 digits"))
}

/// A password for people and SIP phones: 8 to 128 characters.
pub fn password(field: &str, value: &str) -> Result<(), InvalidInput> {
    let n = value.chars().count();
    if (8..=128).contains(&n) {
        Ok(())
    } else {
        Err(InvalidInput::new(field, "8 to 128 characters"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert_eq!(required_text("name", "  Иван  ", 10).unwrap(), "Иван");
        assert!(required_text("name", "   ", 10).is_err());
        assert!(optional_text("name", "abc\u{7}", 10).is_err());
        assert_eq!(optional_text("name", " ", 10).unwrap(), None);
        assert!(token("code", "sale", 32).is_ok());
        assert!(token("code", "Sale", 32).is_err());
        assert!(token("code", "-x", 32).is_err());
        assert_eq!(proficiency(5).unwrap(), 5);
        assert!(proficiency(0).is_err() && proficiency(6).is_err() && proficiency(-1).is_err());
        assert!(extension("1001").is_ok() && extension("1").is_err() && extension("10a1").is_err());
        assert!(password("p", "short").is_err() && password("p", "long enough").is_ok());
    }
}
