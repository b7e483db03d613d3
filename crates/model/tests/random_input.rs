//! Random input for the text parsers of the model: they never panic, and what they return keeps
//! its promises. Deterministic (a fixed seed), so a failure reproduces.

use hotline_model::email::normalize_email;
use hotline_model::phone::normalize_phone;
use hotline_model::redact::redact;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "0",
    "1",
    "7",
    "8",
    "9",
    "+",
    "+7",
    " ",
    "-",
    "(",
    ")",
    ".",
    "@",
    "a",
    "Z",
    "я",
    "Ж",
    "ё",
    "\u{a0}",
    "\0",
    "\u{202e}",
    "tel:",
    "mailto:",
    "..",
    "916",
    "555",
    "01",
    "02",
    "example.ru",
    "😀",
    "\n",
    "\t",
    "%",
    "_",
];

fn random_text(rng: &mut Rng) -> String {
    let n = rng.below(24);
    (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect()
}

#[test]
fn parsers_never_panic_and_keep_their_promises() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..30_000 {
        let s = random_text(&mut rng);
        if let Ok(e164) = normalize_phone(&s, "RU") {
            assert!(
                e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()),
                "{s:?} -> {e164:?}"
            );
            assert_eq!(
                normalize_phone(&e164, "RU").as_deref(),
                Ok(e164.as_str()),
                "normalising is idempotent"
            );
        }
        if let Ok(email) = normalize_email(&s) {
            assert_eq!(email.matches('@').count(), 1, "{s:?} -> {email:?}");
            assert_eq!(normalize_email(&email).as_deref(), Ok(email.as_str()));
        }
        let masked = redact(&s);
        let longest_digit_run = masked
            .split(|c: char| !c.is_ascii_digit() && !" -().\u{a0}".contains(c))
            .map(|run| run.chars().filter(char::is_ascii_digit).count())
            .max()
            .unwrap_or(0);
        assert!(
            longest_digit_run < 9,
            "{s:?} -> {masked:?} still holds a phone-like run"
        );
    }
}

#[test]
fn arbitrary_bytes_as_lossy_text() {
    let mut rng = Rng(42);
    for _ in 0..10_000 {
        let bytes: Vec<u8> = (0..rng.below(64))
            .map(|_| (rng.next() & 0xff) as u8)
            .collect();
        let s = String::from_utf8_lossy(&bytes);
        let _ = normalize_phone(&s, "RU");
        let _ = normalize_email(&s);
        let _ = redact(&s);
    }
}
