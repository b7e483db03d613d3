//! Phone numbers are stored and compared in E.164 (`+79165550102`).
//!
//! Input is what people and carriers type: `8 (916) 555-01-02`, `+7 916 5550102`, `9165550102`,
//! `tel:+7-916-555-01-02`. A number without a country code is read in the tenant's default region
//! (ISO 3166 code such as `RU`), with that region's national prefix (`8` in Russia) understood.

use crate::InvalidInput;
use phonenumber::{country, Mode};
use std::str::FromStr;

/// Checks a default-region code such as `RU` or `GB`.
pub fn parse_region(region: &str) -> Result<country::Id, InvalidInput> {
    country::Id::from_str(&region.to_ascii_uppercase()).map_err(|_| {
        InvalidInput::new(
            "default_region",
            format!("unknown region code {region:?} (use ISO 3166, e.g. RU)"),
        )
    })
}

/// Normalises `input` to E.164, reading national numbers in `default_region`.
/// Numbers that are not valid for their country are refused, so that typos do not create
/// identifiers nobody can ever match.
pub fn normalize_phone(input: &str, default_region: &str) -> Result<String, InvalidInput> {
    let region = parse_region(default_region)?;
    let trimmed = input.trim();
    let trimmed = trimmed.strip_prefix("tel:").unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(InvalidInput::new("phone", "empty phone number"));
    }
    if trimmed.len() > 64
        || !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().\u{a0}/".contains(c))
    {
        return Err(InvalidInput::new(
            "phone",
            "a phone number holds digits, spaces, + - ( ) . only",
        ));
    }
    let digits = trimmed.chars().filter(char::is_ascii_digit).count();
    if !(3..=17).contains(&digits) {
        return Err(InvalidInput::new(
            "phone",
            "a phone number has 3 to 17 digits",
        ));
    }
    let number = phonenumber::parse(Some(region), trimmed)
        .map_err(|e| InvalidInput::new("phone", format!("not a phone number: {e}")))?;
    if !phonenumber::is_valid(&number) {
        return Err(InvalidInput::new(
            "phone",
            "not a valid phone number for its country",
        ));
    }
    let e164 = number.format().mode(Mode::E164).to_string();
    // The stored form must read back as itself: libphonenumber can shorten an over-long input
    // to a different valid number, and an identifier nobody can look up again is worse than none.
    let again = phonenumber::parse(Some(region), &e164)
        .ok()
        .filter(phonenumber::is_valid);
    match again.map(|n| n.format().mode(Mode::E164).to_string()) {
        Some(round_trip) if round_trip == e164 => Ok(e164),
        _ => Err(InvalidInput::new(
            "phone",
            "not a valid phone number for its country",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_phone;

    fn check(input: &str, region: &str, expected: Option<&str>) {
        let got = normalize_phone(input, region).ok();
        assert_eq!(
            got.as_deref(),
            expected,
            "input {input:?} in region {region}"
        );
    }

    #[test]
    fn russian_ways_of_writing_one_number() {
        for input in [
            "8 (916) 555-01-02",
            "+7 916 5550102",
            "9165550102",
            "89165550102",
            "+7 (916) 555-01-02",
            "tel:+7-916-555-01-02",
            " 8-916-555-01-02 ",
        ] {
            check(input, "RU", Some("+79165550102"));
        }
        check("8 (495) 123-45-67", "RU", Some("+74951234567"));
    }

    #[test]
    fn other_regions_and_international_input() {
        check("020 7946 0018", "GB", Some("+442079460018"));
        check("+44 20 7946 0018", "RU", Some("+442079460018"));
        check("(202) 456-1111", "US", Some("+12024561111"));
        check("+7 916 5550102", "gb", Some("+79165550102"));
    }

    #[test]
    fn garbage_is_refused() {
        for input in [
            "",
            "   ",
            "abc",
            "12",
            "+",
            "8 (916) 555-01-02 ext",
            "1234567890123456789012",
            "+7 000",
        ] {
            check(input, "RU", None);
        }
        assert!(normalize_phone("9165550102", "XX").is_err());
    }
}
