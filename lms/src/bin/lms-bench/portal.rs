//! `lms-bench portal`: the Learning Portal's pages under load (docs/performance.md). `--clients`
//! learners, each signed in with their own session cookie (the development sign-in `lms up`
//! offers), load "my learning" (`/`) and a pathway page back to back through the gateway; beside
//! them, in the same run, the portal API call each page is built on (`GET /v1/portal/learning`,
//! `GET /v1/portal/pathways/{id}` with a bearer token), so the cost of the HTML layer shows.
//! Each learner holds `--pathways` enrolments (one mandatory, with six steps, is the page).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use std::future::Future;
use std::time::Instant;

use crate::load::{Stats, drive};
use crate::suite::{self, Backend, Http, Suite, admin, learner_name, token};

#[derive(clap::Args, Debug, Clone)]
pub struct PortalArgs {
    #[arg(long, value_enum, default_value = "postgres")]
    pub backend: Backend,
    /// Signed-in learners loading pages at once (one closed loop each).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Pathways each learner is enrolled on.
    #[arg(long, default_value_t = 5)]
    pub pathways: usize,
    /// Seconds per workload.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// The paced run: each signed-in learner reads a page for this long before the next (as
    /// people do); the closed-loop runs have no pause at all.
    #[arg(long, default_value_t = 1000)]
    pub think_ms: u64,
    /// People below the manager whose team's first page is timed (50 direct reports, the
    /// rest below them).
    #[arg(long, default_value_t = 5_000)]
    pub team_size: usize,
    #[arg(long, default_value = "target/bench")]
    pub out: std::path::PathBuf,
    #[arg(
        long,
        env = "LMS_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    #[arg(long, default_value = "lms_bench_portal")]
    pub database_prefix: String,
}

#[derive(Serialize)]
struct Results {
    backend: &'static str,
    clients: usize,
    /// Each learner loading "my learning", then reading it for `think_ms`.
    learning_page_paced: Stats,
    pathway_page_paced: Stats,
    think_ms: u64,
    /// Closed loops: each learner loading pages back to back (a saturation test).
    learning_page: Stats,
    learning_api: Stats,
    pathway_page: Stats,
    pathway_api: Stats,
    learning_page_bytes: usize,
    pathway_page_bytes: usize,
    team_size: usize,
    /// A manager asking for the first page of their whole team, one call after another.
    team_first_page: Stats,
    /// The same through the portal: the first 20 members with their learning.
    portal_team_first_page: Stats,
}

pub async fn portal(args: PortalArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let data = args
        .out
        .join(format!("portal-{}-data", args.backend.name()));
    let suite = Suite::start(args.backend, &data, &args.postgres, &args.database_prefix)?;
    let http = Http {
        client: reqwest::Client::new(),
        base: suite.gateway.clone(),
    };
    let clients = args.clients.max(1);
    let (page_pathway, learners) = seed(&http, clients, args.pathways.max(1)).await?;
    suite::records_caught_up(&suite.grpc["records-service"], &page_pathway, clients).await?;
    suite.analyze()?;
    let cookies = Arc::new(sign_in_all(&suite.gateway, &learners).await?);
    let tokens: Arc<Vec<String>> = Arc::new(
        learners
            .iter()
            .map(|l| token(l, lms_platform::Role::Learner))
            .collect(),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(clients)
        .build()?;
    let duration = Duration::from_secs(args.seconds.max(1));
    let base = Arc::new(suite.gateway.clone());
    let pathway_path = Arc::new(format!("/pathways/{page_pathway}"));
    let api_pathway_path = Arc::new(format!("/v1/portal/pathways/{page_pathway}"));

    let page = |path: Arc<String>| {
        let (client, base, cookies) = (client.clone(), base.clone(), cookies.clone());
        move |c: usize, _| {
            let (client, base, cookies, path) =
                (client.clone(), base.clone(), cookies.clone(), path.clone());
            async move { fetch(&client, &base, &path, Credential::Cookie(&cookies[c])).await }
        }
    };
    let api = |path: Arc<String>| {
        let (client, base, tokens) = (client.clone(), base.clone(), tokens.clone());
        move |c: usize, _| {
            let (client, base, tokens, path) =
                (client.clone(), base.clone(), tokens.clone(), path.clone());
            async move { fetch(&client, &base, &path, Credential::Bearer(&tokens[c])).await }
        }
    };
    let learning = Arc::new("/".to_string());
    let learning_api = Arc::new("/v1/portal/learning".to_string());
    let think = Duration::from_millis(args.think_ms);
    let paced = |path: Arc<String>| {
        let (client, base, cookies) = (client.clone(), base.clone(), cookies.clone());
        paced_load(clients, duration, think, move |c| {
            let (client, base, cookies, path) =
                (client.clone(), base.clone(), cookies.clone(), path.clone());
            async move { fetch(&client, &base, &path, Credential::Cookie(&cookies[c])).await }
        })
    };
    let manager = seed_team(&http, args.team_size).await?;
    suite.analyze()?;
    let manager_token = token(&manager, lms_platform::Role::Learner);
    let team_first_page =
        one_after_another(&client, &base, "/v1/team?wholeSubtree=true", &manager_token).await;
    let portal_team_first_page = one_after_another(
        &client,
        &base,
        "/v1/portal/team?wholeSubtree=true",
        &manager_token,
    )
    .await;
    let results = Results {
        team_size: args.team_size,
        team_first_page,
        portal_team_first_page,
        backend: args.backend.name(),
        clients,
        learning_page_paced: paced(Arc::new("/".to_string())).await,
        pathway_page_paced: paced(pathway_path.clone()).await,
        think_ms: args.think_ms,
        learning_page: drive(clients, duration, page(learning.clone())).await,
        learning_api: drive(clients, duration, api(learning_api)).await,
        pathway_page: drive(clients, duration, page(pathway_path.clone())).await,
        pathway_api: drive(clients, duration, api(api_pathway_path)).await,
        learning_page_bytes: body_len(&client, &base, &learning, &cookies[0]).await?,
        pathway_page_bytes: body_len(&client, &base, &pathway_path, &cookies[0]).await?,
    };
    for (name, stats) in [
        ("my learning page, paced", &results.learning_page_paced),
        ("pathway page, paced", &results.pathway_page_paced),
        ("my learning page (HTML)", &results.learning_page),
        ("  its API call", &results.learning_api),
        ("pathway page (HTML)", &results.pathway_page),
        ("  its API call", &results.pathway_api),
        ("team, first page", &results.team_first_page),
        ("portal team, first page", &results.portal_team_first_page),
    ] {
        eprintln!(
            "{name:<26} {:>8.0}/s  p50 {:>6.1} ms  p99 {:>6.1} ms  errors {}",
            stats.per_second, stats.p50_ms, stats.p99_ms, stats.errors
        );
    }
    eprintln!(
        "page sizes (uncompressed HTML): my learning {} B, pathway {} B",
        results.learning_page_bytes, results.pathway_page_bytes
    );
    let file = args
        .out
        .join(format!("portal-{}.json", args.backend.name()));
    std::fs::write(&file, serde_json::to_string_pretty(&results)?)?;
    eprintln!("wrote {}", file.display());
    Ok(())
}

/// `clients` learners, each on `pathways` published pathways (the first mandatory, six content
/// steps); the first pathway's id and the learners' ids.
async fn seed(
    http: &Http,
    clients: usize,
    pathways: usize,
) -> anyhow::Result<(String, Vec<String>)> {
    let admin = admin();
    // A run of its own (the database is kept between runs): new people, audience, pathways.
    let run = chrono::Utc::now().timestamp_millis();
    let department = format!("Portal {run}");
    let learners: Vec<String> = (0..clients)
        .map(|n| format!("web{run}-{}", learner_name(n)))
        .collect();
    for learner in &learners {
        http.post(
            "/v1/people",
            &admin,
            json!({"externalId": learner, "displayName": learner,
                   "email": format!("{learner}@bench.example"), "department": department}),
        )
        .await?;
    }
    let audience = http
        .post(
            "/v1/audiences",
            &admin,
            json!({"name": department, "kind": "DYNAMIC",
                   "rule": format!("department = \"{department}\"")}),
        )
        .await?;
    let mut first = None;
    for n in 0..pathways {
        let published =
            suite::publish_pathway(http, &format!("{department} {n}"), None, false).await?;
        let requirement = if n == 0 { "MANDATORY" } else { "OPTIONAL" };
        http.post(
            "/v1/assignments",
            &admin,
            json!({"pathwayId": published.pathway, "audienceId": audience["id"],
                   "requirement": requirement, "duePolicy": {"daysAfterAssignment": 30}}),
        )
        .await?;
        first.get_or_insert(published.pathway);
    }
    Ok((first.unwrap_or_default(), learners))
}

/// Each learner signed in through the portal's development sign-in: their cookie header.
async fn sign_in_all(base: &str, learners: &[String]) -> anyhow::Result<Vec<String>> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut cookies = Vec::with_capacity(learners.len());
    for learner in learners {
        let signin = client.get(format!("{base}/signin")).send().await?;
        let csrf = set_cookie(&signin, "lms_csrf").ok_or_else(|| {
            anyhow::anyhow!("the portal set no CSRF cookie (is the portal served?)")
        })?;
        let signed_in = client
            .post(format!("{base}/auth/dev"))
            .header("cookie", format!("lms_csrf={csrf}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("tenant", suite::TENANT),
                ("person", learner.as_str()),
                ("role", "learner"),
            ])
            .send()
            .await?;
        let session = set_cookie(&signed_in, "lms_session")
            .ok_or_else(|| anyhow::anyhow!("the development sign-in refused {learner}"))?;
        cookies.push(format!("lms_session={session}; lms_csrf={csrf}"));
    }
    Ok(cookies)
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

enum Credential<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
}

async fn fetch(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    credential: Credential<'_>,
) -> Result<(), String> {
    let request = client.get(format!("{base}{path}"));
    let request = match credential {
        Credential::Cookie(cookie) => request.header("cookie", cookie),
        Credential::Bearer(token) => request.bearer_auth(token),
    };
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() && !body.is_empty() {
        Ok(())
    } else {
        Err(format!("GET {path}: {status}"))
    }
}

async fn body_len(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    cookie: &str,
) -> anyhow::Result<usize> {
    let response = client
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await?;
    Ok(response.bytes().await?.len())
}

/// `clients` learners, each loading a page with `operation` and then pausing `think` before the
/// next, for `duration`; only the loads are timed. Starts are spread over the first pause, as
/// people do not all click at once.
async fn paced_load<F, Fut>(
    clients: usize,
    duration: Duration,
    think: Duration,
    operation: F,
) -> Stats
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let operation = operation.clone();
        let offset = think.mul_f64(client as f64 / clients as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let (mut latencies, mut errors) = (Vec::new(), Vec::new());
            while Instant::now() < deadline {
                let began = Instant::now();
                match operation(client).await {
                    Ok(()) => latencies.push(began.elapsed()),
                    Err(error) => errors.push(error),
                }
                tokio::time::sleep(think).await;
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), Vec::new());
    for task in tasks {
        let (mut l, mut e) = task.await.expect("a paced client panicked");
        latencies.append(&mut l);
        errors.append(&mut e);
    }
    Stats::from_latencies(latencies, errors, started.elapsed())
}

/// A manager with `size` people below them: 50 direct reports, the others spread below those.
async fn seed_team(http: &Http, size: usize) -> anyhow::Result<String> {
    let admin = admin();
    let run = chrono::Utc::now().timestamp_millis();
    let manager = format!("mgr{run}");
    let direct = 50.min(size.max(1));
    let name = |n: usize| format!("team{run}-{n:05}");
    let mut rows = vec![json!({"externalId": manager, "displayName": "Manager",
                                "email": format!("{manager}@bench.example")})];
    for n in 0..size {
        let reports_to = if n < direct {
            manager.clone()
        } else {
            name(n % direct)
        };
        rows.push(
            json!({"externalId": name(n), "displayName": format!("Member {n}"),
                         "email": format!("{}@bench.example", name(n)),
                         "managerExternalId": reports_to}),
        );
    }
    for chunk in rows.chunks(5_000) {
        http.post("/v1/people:upsert", &admin, json!({"people": chunk}))
            .await?;
    }
    Ok(manager)
}

/// `path` called 100 times one after another (one manager opening the page), after 5 warm-up
/// calls.
async fn one_after_another(client: &reqwest::Client, base: &str, path: &str, token: &str) -> Stats {
    for _ in 0..5 {
        let _ = fetch(client, base, path, Credential::Bearer(token)).await;
    }
    let started = Instant::now();
    let (mut latencies, mut errors) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let began = Instant::now();
        match fetch(client, base, path, Credential::Bearer(token)).await {
            Ok(()) => latencies.push(began.elapsed()),
            Err(error) => errors.push(error),
        }
    }
    Stats::from_latencies(latencies, errors, started.elapsed())
}
