//! `lms-bench sessions`: booking seats on training sessions (docs/performance.md), through
//! records-service's real gRPC server (authentication, the session's lock, the learner's
//! progress, the outbox) on the chosen database.
//!
//! - The race: `--racers` learners book the last `--last-seats` seats of one session at once
//!   (at most `--clients` in flight): exactly that many must be booked and the rest
//!   waitlisted, with no other error.
//! - Throughput: `--clients` closed loops book seats on `--sessions` sessions of one step for
//!   `--seconds`, each booking a learner who has none yet.
//!
//! The organisation is written straight into records-service's tables (its projection of
//! enrolments, the cached pathway version, sessions and the seats already taken): seeding is
//! not what is measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lms_platform::Role;
use lms_platform::db::Db;
use lms_platform::ids::{EnrolmentId, PathwayId, TenantId};
use lms_platform::resource::{Audit, now};
use lms_proto::records_v1 as pb;
use lms_topology::{Component, Topology};
use pb::training_session_service_client::TrainingSessionServiceClient;
use records_service::domain::enrolment::{Enrolment, EnrolmentStatus};
use records_service::domain::pathway::{Completion, PathwaySnapshot, Step, StepKind};
use records_service::domain::session::{Booking, BookingState, Schedule, Session, SessionState};
use tokio_util::sync::CancellationToken;

use crate::load::{Stats, drive};
use crate::suite::{self, Backend, database_url};
use crate::workloads::{CONNECTIONS, bearer, channels};

#[derive(clap::Args, Debug, Clone)]
pub struct SessionsArgs {
    #[arg(long, value_enum, default_value = "postgres")]
    pub backend: Backend,
    /// Learners booking the last seats of one session at once.
    #[arg(long, default_value_t = 500)]
    pub racers: usize,
    /// Seats left on that session when the race starts (the others are taken).
    #[arg(long, default_value_t = 20)]
    pub last_seats: usize,
    /// Bookings in flight at once (and closed loops in the throughput run).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Sessions of the step in the throughput run.
    #[arg(long, default_value_t = 1_000)]
    pub sessions: usize,
    /// Learners enrolled for the throughput run (each books once).
    #[arg(long, default_value_t = 30_000)]
    pub learners: usize,
    /// Seconds of the throughput run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// records-service's database connections (`records.db_pool_size`).
    #[arg(long, default_value_t = 16)]
    pub pool_size: u32,
    #[arg(long, default_value = "target/bench")]
    pub out: std::path::PathBuf,
    #[arg(
        long,
        env = "LMS_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    #[arg(long, default_value = "lms_bench_sessions")]
    pub database_prefix: String,
}

pub async fn sessions(args: SessionsArgs) -> anyhow::Result<()> {
    let data = args
        .out
        .join(format!("sessions-{}-data", args.backend.name()));
    std::fs::create_dir_all(&data)?;
    let url = database_url(
        args.backend,
        &data,
        &args.postgres,
        &args.database_prefix,
        "records-service",
    )?;
    let (db, address, shutdown) = serve_records(&url, args.pool_size).await?;
    let (pathway, step) = seed_pathway(&db).await?;

    // The race for the last seats.
    let taken = args.racers.max(args.last_seats) - args.last_seats;
    let capacity = taken + args.last_seats;
    let racers = enrol(&db, &pathway, "racer", taken + args.racers).await?;
    let race = schedule(&db, &pathway, &step, capacity as i32).await?;
    take_seats(&db, &step, &race, &racers[..taken]).await?;
    let channels = channels(&format!("http://{address}")).await?;
    let outcomes = race_for_seats(&channels, &race, &racers[taken..], args.clients).await;
    let booked = outcomes.iter().filter(|o| o.0 == Some(BOOKED)).count();
    let waitlisted = outcomes.iter().filter(|o| o.0 == Some(WAITLISTED)).count();
    let errors: Vec<&String> = outcomes.iter().filter_map(|o| o.2.as_ref()).collect();
    let latencies: Vec<Duration> = outcomes.iter().map(|o| o.1).collect();
    let race_stats = Stats::from_latencies(latencies, Vec::new(), Duration::from_secs(1));
    anyhow::ensure!(
        booked == args.last_seats && waitlisted == args.racers - args.last_seats,
        "the race booked {booked} and waitlisted {waitlisted}; errors: {errors:?}"
    );
    eprintln!(
        "race: {booked} booked, {waitlisted} waitlisted, {} errors, p99 {:.1} ms",
        errors.len(),
        race_stats.p99_ms
    );

    // Throughput over many sessions.
    let learners = enrol(&db, &pathway, "learner", args.learners).await?;
    let mut many = Vec::with_capacity(args.sessions);
    for _ in 0..args.sessions {
        many.push(schedule(&db, &pathway, &step, 50).await?);
    }
    let throughput = book_for(
        &channels,
        Arc::new(many),
        Arc::new(learners),
        args.clients,
        Duration::from_secs(args.seconds),
    )
    .await;
    eprintln!(
        "bookings: {:.0}/s, p99 {:.1} ms, {} errors",
        throughput.per_second, throughput.p99_ms, throughput.errors
    );
    shutdown.cancel();

    let report = format!(
        "## Training sessions on {} ({} clients, {} database connections)\n\n\
         | measurement | result | p50 ms | p99 ms |\n|---|---|---:|---:|\n\
         | {} learners book the last {} seats of one session at once | {booked} booked, {waitlisted} waitlisted, {} errors | {:.1} | {:.1} |\n\
         | booking on {} sessions of one step, closed loops for {} s | {:.0} bookings/s, {} errors | {:.1} | {:.1} |\n",
        args.backend.name(),
        args.clients,
        args.pool_size,
        args.racers,
        args.last_seats,
        errors.len(),
        race_stats.p50_ms,
        race_stats.p99_ms,
        args.sessions,
        args.seconds,
        throughput.per_second,
        throughput.errors,
        throughput.p50_ms,
        throughput.p99_ms,
    );
    let path = args
        .out
        .join(format!("sessions-{}.md", args.backend.name()));
    std::fs::write(&path, &report)?;
    println!("{report}");
    eprintln!("written: {}", path.display());
    Ok(())
}

const BOOKED: i32 = pb::BookingState::Booked as i32;
const WAITLISTED: i32 = pb::BookingState::Waitlisted as i32;

fn tenant() -> TenantId {
    TenantId::parse(suite::TENANT).expect("the bench tenant")
}

/// records-service alone, in this process, on `url`, serving gRPC on a loopback port.
async fn serve_records(
    url: &str,
    pool_size: u32,
) -> anyhow::Result<(Db, std::net::SocketAddr, CancellationToken)> {
    let mut settings: lms_topology::Settings =
        lms_platform::config::from_defaults(&lms_topology::defaults())?;
    settings.auth.hs256_secret = suite::SECRET.to_string();
    settings.set_database(
        Component::Records,
        lms_platform::db::DatabaseUrl::parse(url)?,
    );
    settings.set_listen(Component::Records, "127.0.0.1:0".parse()?);
    settings.records.db_pool_size = pool_size;
    let verifier = lms_platform::auth::TokenVerifier::from_config(&settings.auth).await?;
    let mut topology = Topology::new(settings, verifier, true);
    let mut bound = topology.bind(&[Component::Records]).await?;
    let (_, listener) = bound.remove(0);
    let address = listener.local_addr()?;
    let db = crate::workloads::database(&topology, Component::Records).await?;
    let shutdown = CancellationToken::new();
    let task = topology.serve(
        Component::Records,
        listener,
        Some(db.clone()),
        shutdown.clone(),
    )?;
    tokio::spawn(task);
    Ok((db, address, shutdown))
}

/// A published pathway of one training step, cached as records-service caches it.
async fn seed_pathway(db: &Db) -> anyhow::Result<(PathwayId, Step)> {
    let step = Step {
        id: lms_platform::validate::new_id(),
        title: "Practical".into(),
        kind: StepKind::TrainingSession,
        required: true,
        prerequisites: Vec::new(),
        assessment_id: String::new(),
        instructor: String::new(),
        cmi5: None,
    };
    let snapshot = PathwaySnapshot {
        certification: None,
        pathway_id: PathwayId::from(lms_platform::validate::new_id().as_str()),
        version: 1,
        title: "Forklift practice".into(),
        sequential: false,
        completion: Completion::AllRequired,
        steps: vec![step.clone()],
    };
    let pathway = snapshot.pathway_id.clone();
    db.write(move |conn| records_service::storage::versions::store(conn, &tenant(), &snapshot))
        .await?;
    Ok((pathway, step))
}

/// `count` active enrolments on the pathway (learners `<prefix>-<n>`), in bulk.
async fn enrol(
    db: &Db,
    pathway: &PathwayId,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let at = now();
    let run = &lms_platform::validate::new_id()[24..];
    let enrolled: Vec<(String, String)> = (0..count)
        .map(|n| {
            (
                format!("{prefix}-{run}-{n:06}"),
                lms_platform::validate::new_id(),
            )
        })
        .collect();
    for chunk in enrolled.chunks(5_000) {
        let (chunk, pathway) = (chunk.to_vec(), pathway.clone());
        db.write(move |conn| {
            for (learner, id) in &chunk {
                records_service::storage::enrolments::upsert(
                    conn,
                    &tenant(),
                    &Enrolment {
                        id: EnrolmentId::from(id.as_str()),
                        learner: learner.clone(),
                        pathway_id: pathway.clone(),
                        pathway_version: 1,
                        status: EnrolmentStatus::Active,
                        requirement: "MANDATORY".into(),
                        assigned_at: at,
                        due_at: None,
                        completed_at: None,
                        source_revision: 1,
                    },
                )?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(enrolled)
}

/// A session of the step a week from now, with `capacity` seats.
async fn schedule(
    db: &Db,
    pathway: &PathwayId,
    step: &Step,
    capacity: i32,
) -> anyhow::Result<Session> {
    let start = now() + chrono::Duration::days(7);
    let session = Session {
        id: lms_platform::validate::new_id(),
        pathway_id: pathway.clone(),
        step_id: step.id.clone(),
        pathway_title: "Forklift practice".into(),
        step_title: step.title.clone(),
        schedule: Schedule {
            start_at: start,
            end_at: start + chrono::Duration::hours(3),
            time_zone: "Europe/London".into(),
            location: "Depot".into(),
            meeting_url: String::new(),
            capacity,
            instructors: Vec::new(),
            booking_deadline: None,
            cancellation_deadline: None,
        },
        state: SessionState::Scheduled,
        cancel_reason: String::new(),
        booked_count: 0,
        waitlist_count: 0,
        revision: 1,
        audit: Audit::new("admin@bench"),
    };
    let stored = session.clone();
    db.write(move |conn| records_service::storage::sessions::insert(conn, &tenant(), &stored))
        .await?;
    Ok(session)
}

/// Seats taken before the race, as bookings would have left them.
async fn take_seats(
    db: &Db,
    step: &Step,
    session: &Session,
    learners: &[(String, String)],
) -> anyhow::Result<()> {
    let mut taken = session.clone();
    taken.booked_count = learners.len() as i32;
    let bookings: Vec<Booking> = learners
        .iter()
        .map(|(learner, enrolment)| Booking {
            id: lms_platform::validate::new_id(),
            session_id: session.id.clone(),
            step_id: step.id.clone(),
            enrolment_id: enrolment.clone(),
            learner: learner.clone(),
            state: BookingState::Booked,
            booked_by: learner.clone(),
            booked_at: now(),
            override_reason: String::new(),
            cancelled_at: None,
            cancel_reason: String::new(),
            attendance: None,
            waitlist_position: 0,
        })
        .collect();
    db.write(move |conn| {
        for booking in &bookings {
            records_service::storage::bookings::insert(conn, &tenant(), booking)?;
        }
        records_service::storage::sessions::save(conn, &tenant(), &taken)
    })
    .await?;
    Ok(())
}

/// Every racer books once, `clients` at a time: (state, latency, error) per racer.
async fn race_for_seats(
    channels: &Arc<Vec<tonic::transport::Channel>>,
    session: &Session,
    racers: &[(String, String)],
    clients: usize,
) -> Vec<(Option<i32>, Duration, Option<String>)> {
    let permits = Arc::new(tokio::sync::Semaphore::new(clients));
    let mut tasks = Vec::with_capacity(racers.len());
    for (n, (learner, enrolment)) in racers.iter().enumerate() {
        let permits = permits.clone();
        let channel = channels[n % CONNECTIONS].clone();
        let token = suite::token(learner, Role::Learner);
        let request = pb::BookSessionRequest {
            session_id: session.id.clone(),
            enrolment_id: enrolment.clone(),
            ..Default::default()
        };
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await;
            let began = Instant::now();
            let answer = TrainingSessionServiceClient::new(channel)
                .book_session(bearer(request, &token))
                .await;
            let took = began.elapsed();
            match answer {
                Ok(booking) => (Some(booking.into_inner().state), took, None),
                Err(status) => (None, took, Some(status.to_string())),
            }
        }));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(
            task.await
                .unwrap_or((None, Duration::ZERO, Some("panicked".into()))),
        );
    }
    outcomes
}

/// Closed loops booking learners (each once) on random sessions.
async fn book_for(
    channels: &Arc<Vec<tonic::transport::Channel>>,
    sessions: Arc<Vec<Session>>,
    learners: Arc<Vec<(String, String)>>,
    clients: usize,
    duration: Duration,
) -> Stats {
    let next = Arc::new(AtomicUsize::new(0));
    let tokens: Arc<Vec<String>> = Arc::new(
        learners
            .iter()
            .map(|(learner, _)| suite::token(learner, Role::Learner))
            .collect(),
    );
    let channels = channels.clone();
    drive(clients, duration, move |client, iteration| {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let channel = channels[client % CONNECTIONS].clone();
        let sessions = sessions.clone();
        let learners = learners.clone();
        let tokens = tokens.clone();
        async move {
            let Some((_, enrolment)) = learners.get(n) else {
                return Err("every learner is booked: enrol more (--learners)".into());
            };
            let session = &sessions[(n.wrapping_mul(7_919) + iteration as usize) % sessions.len()];
            let request = pb::BookSessionRequest {
                session_id: session.id.clone(),
                enrolment_id: enrolment.clone(),
                ..Default::default()
            };
            TrainingSessionServiceClient::new(channel)
                .book_session(bearer(request, &tokens[n]))
                .await
                .map(|_| ())
                .map_err(|status| status.to_string())
        }
    })
    .await
}
