//! Structured logs on standard error, with personal data masked.
//!
//! Every formatted line passes through [`hotline_model::redact`] before it is written, so a phone
//! number or e-mail address that reaches a log field or message by any path is masked.

use std::io::{self, Write};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Wraps a writer; each write (tracing-subscriber writes one whole event at a time) is redacted.
pub struct Redacting<W>(pub W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(hotline_model::redact::redact(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A `MakeWriter` giving redacting writers over another `MakeWriter`.
pub struct RedactingMakeWriter<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = Redacting<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        Redacting(self.0.make_writer())
    }
}

/// The subscriber Hotline logs with, writing to `make_writer`.
pub fn subscriber<M>(
    filter: &str,
    make_writer: M,
    ansi: bool,
) -> impl tracing::Subscriber + Send + Sync
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_target(true)
        .with_writer(RedactingMakeWriter(make_writer))
        .finish()
}

pub fn init(filter: &str) {
    use std::io::IsTerminal;
    let ansi = io::stderr().is_terminal();
    // A second init (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(filter, io::stderr, ansi));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn phone_numbers_and_emails_never_reach_the_log() {
        let buf = Buffer::default();
        let sub = subscriber("debug", buf.clone(), false);
        tracing::subscriber::with_default(sub, || {
            let caller = "+7 916 555-01-02";
            tracing::info!(
                caller,
                email = "ivan.petrov@example.ru",
                "incoming call from 89165550102 for Ivan.Petrov@Example.RU"
            );
            tracing::warn!(from = ?"8 (916) 555-01-02", "retrying queue 12 for tenant 3 at 2026-11-22");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        for secret in [
            "916",
            "5550102",
            "555-01-02",
            "ivan.petrov",
            "Ivan.Petrov",
            "example.ru",
        ] {
            assert!(!out.contains(secret), "{secret:?} leaked into: {out}");
        }
        assert!(out.contains("[phone]") && out.contains("[email]"), "{out}");
        assert!(
            out.contains("queue 12 for tenant 3 at 2026-11-22"),
            "ordinary numbers stay readable: {out}"
        );
    }
}
