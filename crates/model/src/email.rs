//! E-mail addresses are stored trimmed and lower-cased (both parts: no mail system our users meet
//! treats the local part case-sensitively, and matching must not miss a customer).

use crate::InvalidInput;

pub fn normalize_email(input: &str) -> Result<String, InvalidInput> {
    let trimmed = input.trim();
    let trimmed = match trimmed.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("mailto:") => &trimmed[7..],
        _ => trimmed,
    };
    let bad = |why: &str| Err(InvalidInput::new("email", why.to_string()));
    if trimmed.len() > 254 {
        return bad("an e-mail address has at most 254 characters");
    }
    let Some((local, domain)) = trimmed.rsplit_once('@') else {
        return bad("an e-mail address has the form name@domain");
    };
    if local.is_empty() || local.len() > 64 || domain.is_empty() {
        return bad("an e-mail address has the form name@domain");
    }
    if trimmed
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>,;:\"()[]\\".contains(c))
        || local.contains('@')
    {
        return bad("an e-mail address holds no spaces, quotes, colons or brackets");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return bad("the domain of an e-mail address has dot-separated labels, e.g. example.ru");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return bad("the name part of an e-mail address has no leading, trailing or double dots");
    }
    Ok(trimmed.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(
            normalize_email("  Ivan.Petrov@Example.RU ").unwrap(),
            "ivan.petrov@example.ru"
        );
        assert_eq!(normalize_email("mailto:a@b.co").unwrap(), "a@b.co");
        assert_eq!(normalize_email("Оля@пример.рф").unwrap(), "оля@пример.рф");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "a",
            "a@",
            "@b.ru",
            "a@b",
            "a b@c.ru",
            "a@@b.ru",
            "<a@b.ru>",
            "a@.ru",
            "a..b@c.ru",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn found_by_fuzzing() {
        // "mailtO:" used to survive the first pass and be stripped by the second.
        assert_eq!(normalize_email("mailtO:35@a.ru").unwrap(), "35@a.ru");
        for bad in ["a@b+c.ru", "a:b@c.ru", "mailto:mailto:a@b.ru"] {
            assert!(normalize_email(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(
            normalize_email("MAILTO:Ivan@Example.ru").unwrap(),
            "ivan@example.ru"
        );
    }
}
