//! Sending email: over SMTP to a relay (STARTTLS, TLS or plain; credentials from a Secret), into
//! a folder of `.eml` files (the default of `lms up`, which needs no mail server), or not at
//! all. Each message's Message-ID is its notification's id, so a receiver can recognise one
//! it has seen.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

/// `[notification.email]` (documented in `docs/configuration.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// `smtp`, `folder` or `none`.
    pub transport: Transport,
    /// Where `folder` writes messages; empty: `<data_dir>/mail`.
    pub folder: PathBuf,
    /// The sender, e.g. `Learning <learning@example.com>`.
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls`, `tls` or `none`.
    pub smtp_tls: SmtpTls,
    /// A PEM file of certificate authorities to trust besides the system's (a relay with a
    /// private CA); empty: the system's only.
    pub smtp_ca_file: PathBuf,
    pub smtp_username: String,
    pub smtp_password: String,
    /// How long one SMTP exchange may take.
    pub smtp_timeout_seconds: u64,
    /// Messages sent at once (and SMTP connections kept open).
    pub concurrency: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Smtp,
    Folder,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

/// A message to send.
pub struct Outgoing<'a> {
    pub to: &'a str,
    pub to_name: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// Becomes the Message-ID (`<id@lms>`).
    pub id: &'a str,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailError {
    /// It never will be (the relay refused the recipient for good, the address is invalid).
    Permanent(String),
    /// It may be later (the relay is down or busy).
    Transient(String),
}

#[derive(Clone)]
enum Sender {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Folder(AsyncFileTransport<Tokio1Executor>),
    Disabled,
}

#[derive(Clone)]
pub struct Mailer {
    sender: Sender,
    from: Mailbox,
    pub concurrency: usize,
}

impl Mailer {
    /// The configured transport; bad settings are an error naming the key.
    pub fn from_settings(settings: &EmailSettings) -> anyhow::Result<Mailer> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid configuration: notification.email.from: {e}"))?;
        let sender = match settings.transport {
            Transport::None => Sender::Disabled,
            Transport::Folder => {
                std::fs::create_dir_all(&settings.folder).map_err(|e| {
                    anyhow::anyhow!(
                        "invalid configuration: notification.email.folder {}: {e}",
                        settings.folder.display()
                    )
                })?;
                Sender::Folder(AsyncFileTransport::<Tokio1Executor>::new(&settings.folder))
            }
            Transport::Smtp => {
                anyhow::ensure!(
                    !settings.smtp_host.is_empty(),
                    "invalid configuration: notification.email.smtp_host is required with transport = \"smtp\""
                );
                let host = settings.smtp_host.as_str();
                let tls = || tls_parameters(host, &settings.smtp_ca_file);
                let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host);
                let builder = match settings.smtp_tls {
                    SmtpTls::Starttls => builder.tls(Tls::Required(tls()?)),
                    SmtpTls::Tls => builder.tls(Tls::Wrapper(tls()?)),
                    SmtpTls::None => builder,
                };
                // One pooled connection per message in flight: lettre writes a message in
                // several small segments without TCP_NODELAY, so each one waits on the relay's
                // delayed ACK (~40 ms); throughput comes from connections side by side.
                let connections = u32::try_from(settings.concurrency.max(1)).unwrap_or(u32::MAX);
                let mut builder = builder
                    .port(settings.smtp_port)
                    .timeout(Some(Duration::from_secs(settings.smtp_timeout_seconds)))
                    .pool_config(PoolConfig::new().max_size(connections));
                if !settings.smtp_username.is_empty() {
                    builder = builder.credentials(Credentials::new(
                        settings.smtp_username.clone(),
                        settings.smtp_password.clone(),
                    ));
                }
                Sender::Smtp(builder.build())
            }
        };
        Ok(Mailer {
            sender,
            from,
            concurrency: settings.concurrency.max(1),
        })
    }

    /// Whether email is sent at all.
    pub fn enabled(&self) -> bool {
        !matches!(self.sender, Sender::Disabled)
    }

    pub async fn send(&self, mail: Outgoing<'_>) -> Result<(), MailError> {
        let to = Mailbox::new(
            (!mail.to_name.is_empty()).then(|| mail.to_name.to_string()),
            mail.to
                .parse()
                .map_err(|e| MailError::Permanent(format!("invalid address {:?}: {e}", mail.to)))?,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .message_id(Some(format!("<{}@lms>", mail.id)))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.to_string())
            .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))?;
        match &self.sender {
            Sender::Disabled => Ok(()),
            Sender::Folder(folder) => folder
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Transient(format!("writing the message: {e}"))),
            Sender::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    MailError::Permanent(e.to_string())
                } else {
                    MailError::Transient(e.to_string())
                }
            }),
        }
    }
}

/// TLS towards the relay, verified against the system's authorities and, when configured,
/// those in `ca_file`.
fn tls_parameters(host: &str, ca_file: &std::path::Path) -> anyhow::Result<TlsParameters> {
    let mut builder = TlsParameters::builder(host.to_string());
    if !ca_file.as_os_str().is_empty() {
        let invalid = |why: String| {
            anyhow::anyhow!(
                "invalid configuration: notification.email.smtp_ca_file {}: {why}",
                ca_file.display()
            )
        };
        let pem = std::fs::read(ca_file).map_err(|e| invalid(e.to_string()))?;
        let certificate = Certificate::from_pem(&pem).map_err(|e| invalid(e.to_string()))?;
        builder = builder.add_root_certificate(certificate);
    }
    Ok(builder.build()?)
}
