//! Email over real SMTP: an aiosmtpd server (tests/smtp/server.py) receives what the mailer
//! sends; a recipient it refuses is a permanent failure, a server that is down a transient one.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use notification_service::clients::mail::{
    EmailSettings, MailError, Mailer, Outgoing, SmtpTls, Transport,
};

/// A running SMTP server and the folder it saves messages in; stopped when dropped.
struct SmtpServer {
    /// Runs while this lives.
    _server: support::PythonServer,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start() -> Option<SmtpServer> {
        SmtpServer::start_in("plain")
    }

    /// `mode`: `plain`, `starttls` (required before anything else) or `tls` (implicit TLS);
    /// with TLS, the test authority's certificate is `ca.pem` in its folder.
    fn start_in(mode: &str) -> Option<SmtpServer> {
        let dir = tempfile::tempdir().unwrap();
        let server = support::PythonServer::start(
            "smtp/server.py",
            "aiosmtpd, trustme",
            &[dir.path().as_os_str(), std::ffi::OsStr::new(mode)],
        )?;
        Some(SmtpServer {
            port: server.port,
            _server: server,
            dir,
        })
    }

    fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

fn settings(port: u16) -> EmailSettings {
    EmailSettings {
        transport: Transport::Smtp,
        folder: PathBuf::new(),
        from: "Learning <learning@acme.example>".into(),
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        smtp_tls: SmtpTls::None,
        smtp_ca_file: PathBuf::new(),
        smtp_username: String::new(),
        smtp_password: String::new(),
        smtp_timeout_seconds: 5,
        concurrency: 4,
    }
}

fn mail<'a>(to: &'a str, id: &'a str) -> Outgoing<'a> {
    Outgoing {
        to,
        to_name: "Ada Lovelace",
        subject: "New training assigned: Fire safety",
        body: "Hello Ada,\n\nPlease complete it by 2026-12-20.\n",
        id,
    }
}

#[tokio::test]
async fn messages_reach_a_real_smtp_server_and_refusals_are_told_apart() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let mailer = Mailer::from_settings(&settings(server.port)).unwrap();
    mailer
        .send(mail(
            "ada@acme.example",
            "0190d5a0-0000-7000-8000-000000000001",
        ))
        .await
        .unwrap();
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert!(
        message.contains("X-Envelope-To: ada@acme.example"),
        "{message}"
    );
    assert!(message.contains("From: Learning <learning@acme.example>"));
    assert!(
        message.contains("To: \"Ada Lovelace\" <ada@acme.example>"),
        "{message}"
    );
    assert!(message.contains("Subject: New training assigned: Fire safety"));
    assert!(message.contains("Message-ID: <0190d5a0-0000-7000-8000-000000000001@lms>"));
    assert!(message.contains("Please complete it by 2026-12-20."));

    // A mailbox the relay refuses for good: permanent, nothing delivered.
    let refused = mailer
        .send(mail("refuse@acme.example", "x"))
        .await
        .unwrap_err();
    assert!(matches!(refused, MailError::Permanent(_)), "{refused:?}");
    // An address that is no address: permanent too.
    let invalid = mailer.send(mail("not an address", "y")).await.unwrap_err();
    assert!(matches!(invalid, MailError::Permanent(_)), "{invalid:?}");
    assert_eq!(server.messages().len(), 1);

    // The relay down: transient (the sender retries later).
    let port = server.port;
    drop(server);
    let down = Mailer::from_settings(&settings(port)).unwrap();
    let error = down.send(mail("ada@acme.example", "z")).await.unwrap_err();
    assert!(matches!(error, MailError::Transient(_)), "{error:?}");
}

#[tokio::test]
async fn many_messages_are_sent_concurrently_over_one_relay() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let mailer = Mailer::from_settings(&settings(server.port)).unwrap();
    let sends = (0..40).map(|i| {
        let mailer = mailer.clone();
        async move {
            let (to, id) = (format!("learner{i}@acme.example"), format!("id-{i}"));
            mailer.send(mail(&to, &id)).await
        }
    });
    let results = futures::future::join_all(sends).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for _ in 0..50 {
        if server.messages().len() == 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.messages().len(), 40);
}

#[test]
fn bad_email_settings_name_the_key() {
    let mut bad = settings(25);
    bad.from = "not a mailbox".into();
    let error = Mailer::from_settings(&bad).err().unwrap().to_string();
    assert!(error.contains("notification.email.from"), "{error}");
    let mut no_host = settings(25);
    no_host.smtp_host = String::new();
    let error = Mailer::from_settings(&no_host).err().unwrap().to_string();
    assert!(error.contains("notification.email.smtp_host"), "{error}");
    let mut no_ca = settings(25);
    no_ca.smtp_tls = SmtpTls::Starttls;
    no_ca.smtp_ca_file = "/nonexistent/ca.pem".into();
    let error = Mailer::from_settings(&no_ca).err().unwrap().to_string();
    assert!(error.contains("notification.email.smtp_ca_file"), "{error}");
}

#[tokio::test]
async fn relays_speaking_starttls_or_implicit_tls_are_verified_and_used() {
    for (mode, tls) in [("starttls", SmtpTls::Starttls), ("tls", SmtpTls::Tls)] {
        let Some(server) = SmtpServer::start_in(mode) else {
            return;
        };
        let mut trusted = settings(server.port);
        trusted.smtp_tls = tls;
        trusted.smtp_ca_file = server.dir.path().join("ca.pem");
        Mailer::from_settings(&trusted)
            .unwrap()
            .send(mail(
                "ada@acme.example",
                "0190d5a0-0000-7000-8000-000000000010",
            ))
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e:?}"));
        let messages = server.messages();
        assert_eq!(messages.len(), 1, "{mode}");
        assert!(
            messages[0].contains("Subject: New training assigned"),
            "{mode}"
        );
        // A relay whose certificate no trusted authority signed gets nothing.
        let mut untrusted = trusted.clone();
        untrusted.smtp_ca_file = PathBuf::new();
        let refused = Mailer::from_settings(&untrusted)
            .unwrap()
            .send(mail(
                "ada@acme.example",
                "0190d5a0-0000-7000-8000-000000000011",
            ))
            .await
            .unwrap_err();
        let text = format!("{refused:?}").to_lowercase();
        assert!(text.contains("certificate"), "{mode}: {text}");
        assert_eq!(
            server.messages().len(),
            1,
            "{mode}: nothing sent in the clear"
        );
    }
}
