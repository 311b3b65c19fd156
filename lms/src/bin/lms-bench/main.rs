//! `lms-bench`: the benchmark harness (docs/performance.md), a binary of its own so that the
//! production `lms` carries none of it.
//!
//! `lms-bench run` starts the suite (`lms up`, the `lms` binary beside this one) on SQLite or
//! PostgreSQL, seeds an
//! organisation through the public APIs (kept between runs), and drives each workload with N
//! concurrent clients for a fixed time. Beside each workload it measures, in the same run, its
//! ceilings: a bare tonic service answering health checks (the framework's limit for an RPC)
//! and the workload's own use case called in process on the same database (its diesel
//! statements without transport, authentication or serialisation: the storage limit). Results
//! go to `<out>/<backend>.json` and `<out>/<backend>.md`.
//!
//! `lms-bench soak` drives a mixed load through the gateway for a fixed time and samples
//! errors, p99 and the suite's resident memory per interval (docs/reliability.md).

mod access;
mod hr;
mod load;
mod notify;
mod pgbench;
mod portal;
mod sessions;
mod soak;
mod statements;
mod suite;
mod webhooks;
mod workloads;
mod xapi;

use std::path::PathBuf;
use std::time::Duration;

pub use suite::Backend;

#[derive(clap::Parser)]
#[command(
    name = "lms-bench",
    version,
    about = "Benchmarks of the LMS suite: every workload beside its same-run ceilings (`run`), and a bounded mixed load sampled over time (`soak`); see docs/performance.md"
)]
enum Cli {
    /// Every workload with its same-run baselines; writes <out>/<backend>.json and .md.
    Run(RunArgs),
    /// A bounded mixed load through the gateway, sampled per interval.
    Soak(SoakArgs),
    /// notification-service: the reminder scan over many enrolments, and email throughput.
    Notify(notify::NotifyArgs),
    /// Training sessions: the race for a session's last seats, and booking throughput.
    Sessions(sessions::SessionsArgs),
    /// The Learning Portal's pages for signed-in learners, beside the API calls they make.
    Portal(portal::PortalArgs),
    /// What the access decision point adds to a call: a scoped binding against a token role.
    Access(access::AccessArgs),
    /// An HR bulk upload of a whole organisation, then an audience of everyone assigned a pathway.
    Hr(hr::HrArgs),
    /// The Learning Record Store: statement ingestion in batches, then queries by agent and verb.
    Xapi(xapi::XapiArgs),
}

fn main() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    statements::count();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lms-bench: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli {
            Cli::Run(args) => workloads::run(args).await,
            Cli::Soak(args) => soak::soak(args).await,
            Cli::Notify(args) => notify::notify(args).await,
            Cli::Sessions(args) => sessions::sessions(args).await,
            Cli::Portal(args) => portal::portal(args).await,
            Cli::Access(args) => access::access(args).await,
            Cli::Hr(args) => hr::hr(args).await,
            Cli::Xapi(args) => xapi::xapi(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lms-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The database the suite runs on.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: Backend,
    /// Concurrent clients per workload.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds per workload (and per baseline).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// People in the seeded organisation (also the size of the fan-out and the report).
    #[arg(long, default_value_t = 100_000)]
    pub people: usize,
    /// Published pathways in the seeded organisation (in 20 categories).
    #[arg(long, default_value_t = 200)]
    pub pathways: usize,
    /// Where results and the seeded data go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// The PostgreSQL server (its maintenance database) for `--backend postgres`.
    #[arg(
        long,
        env = "LMS_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    /// PostgreSQL databases are `<prefix>_pathway`, ...; created when missing, kept after.
    #[arg(long, default_value = "lms_bench")]
    pub database_prefix: String,
    /// The scale of pgbench's tables for PostgreSQL's own figures (`<prefix>_pgbench`; 10:
    /// 1 000 000 accounts).
    #[arg(long, default_value_t = 10)]
    pub pgbench_scale: u32,
    /// Which groups of workloads to run (comma-separated): `reads` (GetPathway, CheckAccess,
    /// my learning), `fan-out` (the fan-outs, the events they cause, the compliance report),
    /// `writes` (step completions, attempts; they need the fan-out's enrolments, so they bring
    /// `fan-out` with them). Runs that skip the fan-outs leave the organisation as it was.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "reads,fan-out,writes"
    )]
    pub workloads: Vec<WorkloadGroup>,
}

/// A group of `lms-bench run`'s workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadGroup {
    Reads,
    FanOut,
    Writes,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SoakArgs {
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: Backend,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Total length, in minutes.
    #[arg(long, default_value_t = 10)]
    pub minutes: u64,
    /// Length of one reporting interval, in seconds.
    #[arg(long, default_value_t = 60)]
    pub interval_seconds: u64,
    /// Requests per second the whole load is held to (a bounded load, not a flood).
    #[arg(long, default_value_t = 400)]
    pub rate: u64,
    #[arg(long, default_value_t = 5_000)]
    pub people: usize,
    #[arg(long, default_value_t = 20)]
    pub pathways: usize,
    #[arg(long, default_value = "target/soak")]
    pub out: PathBuf,
    #[arg(
        long,
        env = "LMS_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    #[arg(long, default_value = "lms_soak")]
    pub database_prefix: String,
}

fn seconds(value: u64) -> Duration {
    Duration::from_secs(value.max(1))
}
