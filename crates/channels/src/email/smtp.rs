//! Sending over SMTP (lettre) to the mailbox's own server: implicit TLS (465), STARTTLS
//! (required, never skipped when the server does not offer it) or plain inside a trusted
//! network, as the mailbox says (`smtp_security`); AUTH when a user is set.

use hotline_model::EmailAccount;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// Sends one mail; the error is the server's answer (or why it could not be reached).
pub async fn send(account: &EmailAccount, message: lettre::Message) -> Result<(), String> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(account.smtp_host.as_str())
        .port(account.smtp_port)
        .timeout(Some(Duration::from_secs(30)));
    if account.smtp_security != "none" {
        let mut params = TlsParameters::builder(account.smtp_host.clone());
        if !account.tls_ca_pem.trim().is_empty() {
            let ca = Certificate::from_pem(account.tls_ca_pem.as_bytes())
                .map_err(|e| format!("the mailbox's CA: {e}"))?;
            params = params.add_root_certificate(ca);
        }
        let params = params.build().map_err(|e| e.to_string())?;
        b = b.tls(if account.smtp_security == "tls" {
            Tls::Wrapper(params)
        } else {
            Tls::Required(params)
        });
    }
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
