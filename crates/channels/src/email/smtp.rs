//! Sending over SMTP (lettre) to the mailbox's own server: plain SMTP with AUTH when a user is
//! set (a relay on the host or the company's submission port inside its network).
//! Implicit TLS and STARTTLS are not built yet: see the closing note.

use hotline_model::EmailAccount;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// Sends one mail; the error is the server's answer (or why it could not be reached).
pub async fn send(account: &EmailAccount, message: lettre::Message) -> Result<(), String> {
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(account.smtp_host.as_str())
        .port(account.smtp_port)
        .timeout(Some(Duration::from_secs(30)));
    if !account.smtp_user.is_empty() {
        b = b.credentials(Credentials::new(
            account.smtp_user.clone(),
            account.smtp_password.clone(),
        ));
    }
    let transport = b.build();
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
