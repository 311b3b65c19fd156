//! `lms-bench notify`: notification-service's own figures (docs/performance.md).
//!
//! - The reminder scan: N open enrolments followed, K of them with a reminder due; the time of
//!   one scheduler run (`run_reminders`), for several K over the same N — its cost should follow
//!   K, not N.
//! - Email: M messages through the mailer to a local SMTP server (aiosmtpd,
//!   tests/smtp/server.py), and the same into a folder, in messages per second.
//! - Webhooks: events queued for a webhook, and deliveries to a local receiver per second
//!   (`webhooks.rs`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDateTime;
use diesel::RunQueryDsl;
use futures::StreamExt;
use lms_platform::db::{Db, DbConnection};
use notification_service::clients::mail::{EmailSettings, Mailer, Outgoing, SmtpTls, Transport};

use crate::suite::{Backend, database_url};
use crate::workloads::in_process_settings;

#[derive(clap::Args, Debug, Clone)]
pub struct NotifyArgs {
    #[arg(long, value_enum, default_value = "postgres")]
    pub backend: Backend,
    /// Open enrolments the scheduler follows.
    #[arg(long, default_value_t = 100_000)]
    pub enrolments: usize,
    /// Reminders due in each measured scan (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    pub due: Vec<usize>,
    /// Messages per email measurement.
    #[arg(long, default_value_t = 5_000)]
    pub messages: usize,
    /// Messages sent at once (`notification.email.concurrency`).
    #[arg(long, default_value_t = 32)]
    pub email_concurrency: usize,
    /// Events queued for a webhook and delivered to a local receiver.
    #[arg(long, default_value_t = 20_000)]
    pub webhook_events: usize,
    /// Deliveries in flight at once (`notification.webhooks.concurrency`).
    #[arg(long, default_value_t = 64)]
    pub webhook_concurrency: usize,
    #[arg(long, default_value = "target/bench")]
    pub out: std::path::PathBuf,
    #[arg(
        long,
        env = "LMS_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    #[arg(long, default_value = "lms_bench_notify")]
    pub database_prefix: String,
}

pub async fn notify(args: NotifyArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let data = args
        .out
        .join(format!("notify-{}-data", args.backend.name()));
    std::fs::create_dir_all(&data)?;
    let mut report = format!(
        "## notification-service on {} ({} enrolments followed)\n\n| measurement | units | seconds | per second |\n|---|---:|---:|---:|\n",
        args.backend.name(),
        args.enrolments
    );
    let url = database_url(
        args.backend,
        &data,
        &args.postgres,
        &args.database_prefix,
        "notification-service",
    )?;
    let db =
        notification_service::open_database(lms_platform::db::DatabaseUrl::parse(&url)?, 8, true)
            .await?;
    let (mut settings, peers) = in_process_settings().await?;
    // The local receiver listens on loopback, over plain HTTP.
    let hooks = &mut settings.own.webhooks;
    hooks.allow_http = true;
    hooks.allowed_networks = vec!["127.0.0.0/8".into()];
    hooks.concurrency = args.webhook_concurrency;
    let app = notification_service::app(db.clone(), &settings, &peers)?;
    let now = lms_platform::resource::now();
    for &due in &args.due {
        seed(&db, args.enrolments, due.min(args.enrolments), now).await?;
        let started = Instant::now();
        let decided = app.run_reminders(now).await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(
            decided == due.min(args.enrolments),
            "decided {decided} of {due}"
        );
        report.push_str(&format!(
            "| reminder scan: {decided} due of {} | {decided} | {:.3} | {:.0} |\n",
            args.enrolments,
            elapsed.as_secs_f64(),
            decided as f64 / elapsed.as_secs_f64()
        ));
        eprintln!("scan with {decided} due: {:.3} s", elapsed.as_secs_f64());
    }
    let smtp = email_to_smtp(args.messages, &data, args.email_concurrency).await?;
    report.push_str(&format!(
        "| email to a local SMTP server (aiosmtpd), {} at once | {} | {:.3} | {:.0} |\n",
        args.email_concurrency,
        args.messages,
        smtp.as_secs_f64(),
        args.messages as f64 / smtp.as_secs_f64()
    ));
    let folder = email_to_folder(args.messages, &data.join("mail"), args.email_concurrency).await?;
    report.push_str(&format!(
        "| email into a folder (`lms up`'s transport), {} at once | {} | {:.3} | {:.0} |\n",
        args.email_concurrency,
        args.messages,
        folder.as_secs_f64(),
        args.messages as f64 / folder.as_secs_f64()
    ));
    let hooks = crate::webhooks::measure(&app, args.webhook_events).await?;
    anyhow::ensure!(
        hooks.received == hooks.events,
        "the receiver got {} of {}",
        hooks.received,
        hooks.events
    );
    report.push_str(&format!(
        "| webhook: events applied and queued (batches of 500) | {} | {:.3} | {:.0} |\n",
        hooks.events,
        hooks.enqueue.as_secs_f64(),
        hooks.events as f64 / hooks.enqueue.as_secs_f64()
    ));
    report.push_str(&format!(
        "| webhook: deliveries to a local receiver, {} at once | {} | {:.3} | {:.0} |\n",
        args.webhook_concurrency,
        hooks.events,
        hooks.deliver.as_secs_f64(),
        hooks.events as f64 / hooks.deliver.as_secs_f64()
    ));
    let path = args.out.join(format!("notify-{}.md", args.backend.name()));
    std::fs::write(&path, &report)?;
    println!("{report}");
    eprintln!("written: {}", path.display());
    Ok(())
}

/// Replaces the followed enrolments with `total` open ones, `due` of them with a reminder due at
/// `now` and the rest spread over the next 60 days; removes earlier notifications.
async fn seed(db: &Db, total: usize, due: usize, now: NaiveDateTime) -> anyhow::Result<()> {
    let now = now.format("%Y-%m-%d %H:%M:%S").to_string();
    db.write(move |conn| {
        let series = match conn {
            DbConnection::Postgres(_) => format!("SELECT generate_series(1, {total}) AS i"),
            DbConnection::Sqlite(_) => format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {total}) SELECT i FROM s"
            ),
        };
        let plus_days = |days: &str| match conn {
            DbConnection::Postgres(_) => format!("TIMESTAMP '{now}' + ({days}) * INTERVAL '1 day'"),
            DbConnection::Sqlite(_) => {
                format!("datetime('{now}', ({days}) || ' days')")
            }
        };
        let next = format!(
            "CASE WHEN i <= {due} THEN {} ELSE {} END",
            plus_days("-0.001"),
            plus_days("1 + i % 60")
        );
        let statements = [
            "DELETE FROM notifications".to_string(),
            "DELETE FROM tracked_enrolments".to_string(),
            format!(
                "INSERT INTO tracked_enrolments (tenant_id, enrolment_id, person_id, learner, pathway_id, \
                 mandatory, due_at, state, revision, next_reminder_at, next_stage) \
                 SELECT 'bench', 'e-' || i, 'p-' || i, 'learner-' || i, 'pathway', TRUE, {}, 'open', 1, {next}, 0 \
                 FROM ({series}) AS series",
                plus_days("14")
            ),
        ];
        for statement in statements {
            match conn {
                DbConnection::Postgres(pg) => diesel::sql_query(statement).execute(pg)?,
                DbConnection::Sqlite(sqlite) => diesel::sql_query(statement).execute(sqlite)?,
            };
        }
        if let DbConnection::Postgres(pg) = conn {
            diesel::sql_query("ANALYZE tracked_enrolments").execute(pg)?;
        }
        Ok(())
    })
    .await
    .context("seeding the followed enrolments")
}

fn settings(transport: Transport, port: u16, folder: &Path, concurrency: usize) -> EmailSettings {
    EmailSettings {
        transport,
        folder: folder.to_path_buf(),
        from: "Learning <learning@bench.example>".into(),
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        smtp_tls: SmtpTls::None,
        smtp_ca_file: std::path::PathBuf::new(),
        smtp_username: String::new(),
        smtp_password: String::new(),
        smtp_timeout_seconds: 10,
        concurrency,
    }
}

async fn send_all(mailer: &Mailer, messages: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let failures = futures::stream::iter(0..messages)
        .map(|i| {
            let mailer = mailer.clone();
            async move {
                let (to, id) = (format!("learner{i}@bench.example"), format!("bench-{i}"));
                mailer
                    .send(Outgoing {
                        to: &to,
                        to_name: "A Learner",
                        subject: "Due in 7 days: Fire safety",
                        body: "Hello,\n\n“Fire safety” is due on 2026-12-20, in 7 days.\n",
                        id: &id,
                    })
                    .await
                    .is_err()
            }
        })
        .buffer_unordered(mailer.concurrency)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    anyhow::ensure!(failures == 0, "{failures} messages failed");
    Ok(started.elapsed())
}

async fn email_to_smtp(
    messages: usize,
    data: &Path,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let inbox = data.join("smtp-received");
    let _ = std::fs::remove_dir_all(&inbox);
    let mut server = Command::new("python3")
        .arg("tests/smtp/server.py")
        .arg(port.to_string())
        .arg(&inbox)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting tests/smtp/server.py (run from the repository; pip install aiosmtpd)")?;
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().context("its output")?),
        &mut ready,
    )?;
    anyhow::ensure!(ready.trim() == "ready", "the SMTP server did not start");
    let mailer = Mailer::from_settings(&settings(Transport::Smtp, port, data, concurrency))?;
    let elapsed = send_all(&mailer, messages).await;
    let _ = server.kill();
    let _ = server.wait();
    elapsed
}

async fn email_to_folder(
    messages: usize,
    folder: &Path,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let _ = std::fs::remove_dir_all(folder);
    let mailer = Mailer::from_settings(&settings(Transport::Folder, 0, folder, concurrency))?;
    send_all(&mailer, messages).await
}

/// Waits until notification-service has settled (put in an inbox, or muted, cancelled, failed)
/// `expected` ASSIGNED notifications about `pathways`; how many it settled.
pub async fn assigned_settled(
    db: &Db,
    pathways: &[String],
    expected: usize,
) -> anyhow::Result<usize> {
    use diesel::prelude::*;
    use notification_service::storage::schema::notifications as n;
    let started = Instant::now();
    loop {
        let pathways = pathways.to_vec();
        let settled: i64 = db
            .read(move |conn| {
                Ok(n::table
                    .filter(n::pathway_id.eq_any(pathways))
                    .filter(n::kind.eq("assigned"))
                    .filter(n::state.ne("pending"))
                    .count()
                    .get_result(conn)?)
            })
            .await?;
        if settled as usize >= expected {
            return Ok(settled as usize);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "notification-service settled {settled} of {expected} assigned notifications in 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
