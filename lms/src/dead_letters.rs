//! `lms dead-letters list|replay --component NAME`: the events a destination rejected for
//! good, kept by the service that produced them (`lms.events.v1.DeadLetters`).

use anyhow::Context;
use clap::Subcommand;
use lms_proto::events_v1 as pb;
use lms_topology::{Component, Settings};
use pb::dead_letters_client::DeadLettersClient;
use tonic::transport::Channel;

#[derive(Subcommand)]
pub enum DeadLettersWhat {
    /// Print them as tab-separated lines, oldest first: event, destination, type, aggregate,
    /// attempts, when it occurred, when it was rejected, and the destination's reason.
    List {
        #[command(flatten)]
        producer: Producer,
    },
    /// Offer them to their destination again (in their original order); one rejected again
    /// returns to the list with the new reason.
    Replay {
        #[command(flatten)]
        producer: Producer,
        /// The events to replay.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        event_ids: Vec<String>,
        /// Every dead letter of the tenant (and --destination).
        #[arg(long)]
        all: bool,
    },
}

/// Which service's dead letters, and as whom.
#[derive(clap::Args)]
pub struct Producer {
    /// The producing service: enrolment, assessment or records.
    #[arg(long, value_parser = crate::component)]
    component: Component,
    /// Only those for this destination (e.g. records-service).
    #[arg(long, default_value = "")]
    destination: String,
    /// The service's address (default: its `[topology]` address).
    #[arg(long)]
    address: Option<String>,
    /// A bearer token with the admin role (the tenant's letters only).
    #[arg(long, env = "LMS_TOKEN", hide_env_values = true)]
    token: String,
}

async fn client(address: &str) -> anyhow::Result<DeadLettersClient<Channel>> {
    let channel = tonic::transport::Endpoint::from_shared(address.to_string())
        .with_context(|| format!("{address:?} is not an address like http://127.0.0.1:50052"))?
        .connect()
        .await
        .with_context(|| format!("connecting to {address}"))?;
    Ok(DeadLettersClient::new(channel))
}

fn authorized<T>(token: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .context("the token is not valid header text")?,
    );
    Ok(request)
}

fn failed(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

/// Prints every dead letter (all pages) as tab-separated lines with a header; returns how many.
pub async fn list(
    address: &str,
    token: &str,
    destination: &str,
    mut out: impl std::io::Write,
) -> anyhow::Result<usize> {
    let mut client = client(address).await?;
    writeln!(
        out,
        "event_id\tdestination\ttype\taggregate_id\tattempts\toccurred\trejected\treason"
    )?;
    let (mut page_token, mut count) = (String::new(), 0);
    loop {
        let request = pb::ListDeadLettersRequest {
            destination: destination.to_string(),
            page_size: 500,
            page_token,
        };
        let page = client
            .list_dead_letters(authorized(token, request)?)
            .await
            .map_err(failed)?
            .into_inner();
        for letter in &page.dead_letters {
            count += 1;
            let short_type = letter.type_url.rsplit('/').next().unwrap_or_default();
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                letter.event_id,
                letter.destination,
                short_type,
                letter.aggregate_id,
                letter.attempts,
                time(&letter.occur_time),
                time(&letter.reject_time),
                letter.reason.replace(['\t', '\n'], " ")
            )?;
        }
        if page.next_page_token.is_empty() {
            return Ok(count);
        }
        page_token = page.next_page_token;
    }
}

fn time(at: &Option<prost_types::Timestamp>) -> String {
    at.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Queues dead letters for delivery again: those named, or every one with `all`.
pub async fn replay(
    address: &str,
    token: &str,
    destination: &str,
    event_ids: Vec<String>,
    all: bool,
) -> anyhow::Result<i32> {
    let request = pb::ReplayDeadLettersRequest {
        destination: destination.to_string(),
        event_ids,
        all,
    };
    let answer = client(address)
        .await?
        .replay_dead_letters(authorized(token, request)?)
        .await
        .map_err(failed)?;
    Ok(answer.into_inner().replayed)
}

/// Runs `lms dead-letters ...`.
pub async fn command(settings: &Settings, what: DeadLettersWhat) -> anyhow::Result<()> {
    let address = |producer: &Producer| {
        producer
            .address
            .clone()
            .unwrap_or_else(|| crate::default_address(settings, producer.component))
    };
    match what {
        DeadLettersWhat::List { producer } => {
            let out = std::io::stdout().lock();
            let count = list(
                &address(&producer),
                &producer.token,
                &producer.destination,
                out,
            )
            .await?;
            eprintln!("{count} dead letters");
        }
        DeadLettersWhat::Replay {
            producer,
            event_ids,
            all,
        } => {
            let replayed = replay(
                &address(&producer),
                &producer.token,
                &producer.destination,
                event_ids,
                all,
            )
            .await?;
            println!("{replayed} dead letters queued for delivery again");
        }
    }
    Ok(())
}
