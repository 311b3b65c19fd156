//! Faults, with each component in its own `lms serve` process as in a Kubernetes deployment:
//! records-service killed (SIGKILL) and restarted while enrolments and assessment outcomes
//! stream to it; PostgreSQL cut off from every service mid-stream (a proxy drops every
//! connection and refuses new ones); a service killed inside a transaction; SIGTERM under load.
//! Afterwards every event is applied exactly once and nothing is half written.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::Rpcs;
use lms_platform::Role;
use lms_test_support::{TestAuth, TestBackend, TestDatabase};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Components in start order, with their config section.
const COMPONENTS: [(&str, &str); 4] = [
    ("pathway-service", "PATHWAY"),
    ("enrolment-service", "ENROLMENT"),
    ("assessment-service", "ASSESSMENT"),
    ("records-service", "RECORDS"),
];

fn free_port() -> u16 {
    lms_test_support::port_for_a_child("127.0.0.1")
}

/// A TCP proxy in front of PostgreSQL that a test can cut (every connection dropped, new ones
/// refused) and restore on the same port.
struct DatabaseProxy {
    port: u16,
    accepting: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl DatabaseProxy {
    async fn start() -> DatabaseProxy {
        let proxy = DatabaseProxy {
            port: free_port(),
            accepting: Mutex::new(None),
            connections: Arc::default(),
        };
        proxy.restore().await;
        proxy
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let connections = self.connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(connection);
            }
        });
        *self.accepting.lock().unwrap() = Some(task);
    }

    /// PostgreSQL "stops": open connections break, new ones are refused.
    fn cut(&self) {
        if let Some(task) = self.accepting.lock().unwrap().take() {
            task.abort();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// `url` (of a test database) through this proxy.
    fn route(&self, url: &str) -> String {
        url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port))
    }
}

/// The four services, each its own `lms serve` process on a fixed port.
struct Cluster {
    auth: TestAuth,
    ports: HashMap<&'static str, u16>,
    database_urls: HashMap<&'static str, String>,
    processes: Mutex<HashMap<&'static str, Child>>,
    rpcs: Rpcs,
    _data: tempfile::TempDir,
    _databases: Vec<TestDatabase>,
}

impl std::ops::Deref for Cluster {
    type Target = Rpcs;
    fn deref(&self) -> &Rpcs {
        &self.rpcs
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.processes.lock().unwrap().values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    /// Starts the services on `backend`; PostgreSQL connections go through `proxy` when given.
    async fn start(backend: TestBackend, proxy: Option<&DatabaseProxy>) -> Option<Cluster> {
        let data = tempfile::tempdir().unwrap();
        let mut databases = Vec::new();
        let mut database_urls = HashMap::new();
        for (component, _) in COMPONENTS {
            let database = TestDatabase::create(backend)?;
            let url = database.url.to_config_string();
            let url = match proxy {
                Some(proxy) => proxy.route(&url),
                None => url,
            };
            database_urls.insert(component, url);
            databases.push(database);
        }
        let ports: HashMap<_, _> = COMPONENTS.iter().map(|(c, _)| (*c, free_port())).collect();
        let mut channels = HashMap::new();
        for (component, _) in COMPONENTS {
            let url = format!("http://127.0.0.1:{}", ports[component]);
            channels.insert(
                component.to_string(),
                Channel::from_shared(url).unwrap().connect_lazy(),
            );
        }
        let cluster = Cluster {
            auth: TestAuth::default(),
            ports,
            database_urls,
            processes: Mutex::default(),
            rpcs: Rpcs::new(channels),
            _data: data,
            _databases: databases,
        };
        for (component, _) in COMPONENTS {
            cluster.launch(component).await;
        }
        Some(cluster)
    }

    fn url(&self, component: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[component])
    }

    /// Starts `component` (again) on its port and waits until it serves.
    async fn launch(&self, component: &'static str) {
        let section = COMPONENTS.iter().find(|(c, _)| *c == component).unwrap().1;
        let mut command = Command::new(env!("CARGO_BIN_EXE_lms"));
        for (key, _) in std::env::vars() {
            if key.starts_with("LMS__") {
                command.env_remove(key);
            }
        }
        command
            .args(["serve", component.trim_end_matches("-service")])
            .env(
                format!("LMS__{section}__LISTEN"),
                format!("127.0.0.1:{}", self.ports[component]),
            )
            .env(
                format!("LMS__{section}__DATABASE_URL"),
                &self.database_urls[component],
            )
            .env("LMS__TOPOLOGY__PATHWAY", self.url("pathway-service"))
            .env("LMS__TOPOLOGY__ENROLMENT", self.url("enrolment-service"))
            .env("LMS__TOPOLOGY__ASSESSMENT", self.url("assessment-service"))
            .env("LMS__TOPOLOGY__RECORDS", self.url("records-service"))
            .env("LMS__AUTH__HS256_SECRET", self.auth.config().hs256_secret)
            .env("LMS__SERVER__SHUTDOWN_GRACE_SECONDS", "20")
            .env("LMS__TELEMETRY__METRICS_LISTEN", "")
            .env("LMS__TELEMETRY__LOG_LEVEL", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = command.spawn().expect("lms serve starts");
        self.processes.lock().unwrap().insert(component, child);
        let started = Instant::now();
        loop {
            let probe = tokio::process::Command::new(env!("CARGO_BIN_EXE_lms"))
                .args(["probe", &format!("127.0.0.1:{}", self.ports[component])])
                .output()
                .await
                .unwrap();
            if probe.status.success() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{component} did not come up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&self, component: &str, signal: &str) -> Child {
        let mut processes = self.processes.lock().unwrap();
        let child = processes.remove(component).expect("running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child
    }

    /// SIGKILL: the process gets no chance to finish anything.
    fn kill(&self, component: &str) {
        let mut child = self.signal(component, "-KILL");
        let _ = child.wait();
    }

    fn admin(&self) -> String {
        self.auth.token("acme", "admin@acme", &[Role::Admin])
    }

    fn learner(&self, name: &str) -> String {
        self.auth.token("acme", name, &[Role::Learner])
    }

    /// Retries a call through UNAVAILABLE (a service or its database restarting), as a client
    /// following the API guide does; any other error fails the test.
    /// Waits (up to 20 s) until `component`'s health check for its service answers `status`.
    async fn health_becomes(&self, component: &'static str, status: ServingStatus) {
        let service = match component {
            "pathway-service" => "lms.pathway.v1.PathwayService",
            "enrolment-service" => "lms.enrolment.v1.EnrolmentService",
            "assessment-service" => "lms.assessment.v1.AssessmentService",
            _ => "lms.records.v1.RecordsService",
        };
        let url = format!("http://127.0.0.1:{}", self.ports[component]);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let channel = Channel::from_shared(url.clone()).unwrap().connect_lazy();
            let answer = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .map(|r| r.into_inner().status());
            if answer.as_ref().is_ok_and(|s| *s == status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{component} never became {status:?}: {answer:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn through_outages(&self, rpc: &str, request: Value, token: &str) -> Value {
        let started = Instant::now();
        loop {
            match self.rpc(rpc, request.clone(), Some(token)).await {
                Ok(answer) => return answer,
                Err(status)
                    if matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded)
                        && started.elapsed() < Duration::from_secs(90) =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => panic!("{rpc} {request}: {status:?}"),
            }
        }
    }
}

/// A certification pathway of one assessment step, assigned to `learners` people; returns
/// (pathway, assessment, question).
async fn certification_for_everyone(
    cluster: &Cluster,
    learners: usize,
) -> (String, String, String) {
    let admin = cluster.admin();
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let pathway = cluster
        .ok(
            "lms.pathway.v1.PathwayService/CreatePathway",
            json!({"pathway": {"title": "Forklift licence", "outcome": "CERTIFICATION",
                   "certification": {"validityDays": 365, "recertificationWindowDays": 30}}}),
            &admin,
        )
        .await;
    let pathway = id(&pathway);
    let bank = cluster
        .ok(
            "lms.assessment.v1.AssessmentService/CreateQuestionBank",
            json!({"bank": {"name": "Forklift"}}),
            &admin,
        )
        .await;
    let question = cluster
        .ok(
            "lms.assessment.v1.AssessmentService/CreateQuestion",
            json!({"bankId": id(&bank), "question": {"text": "Loads travel low.", "trueFalse": {"answer": true}}}),
            &admin,
        )
        .await;
    let question = id(&question);
    let assessment = cluster
        .ok(
            "lms.assessment.v1.AssessmentService/CreateAssessment",
            json!({"assessment": {"title": "Forklift test", "pathwayId": pathway,
                   "fixed": {"questionIds": [question]}, "passMarkPercent": 100}}),
            &admin,
        )
        .await;
    let assessment = id(&assessment);
    cluster
        .ok(
            "lms.pathway.v1.PathwayService/AddStep",
            json!({"pathwayId": pathway, "step": {"title": "Test", "required": true,
                   "assessment": {"assessmentId": assessment}}}),
            &admin,
        )
        .await;
    cluster
        .ok(
            "lms.pathway.v1.PathwayService/PublishPathway",
            json!({"id": pathway}),
            &admin,
        )
        .await;
    let people: Vec<Value> = (0..learners)
        .map(|n| {
            json!({"externalId": format!("learner{n}"), "displayName": format!("Learner {n}"),
                        "email": format!("learner{n}@acme.example"), "department": "Warehouse"})
        })
        .collect();
    cluster
        .ok(
            "lms.enrolment.v1.EnrolmentService/UpsertPeople",
            json!({"people": people}),
            &admin,
        )
        .await;
    (pathway, assessment, question)
}

async fn assign(cluster: &Cluster, pathway: &str) {
    let admin = cluster.admin();
    let audience = cluster
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateAudience",
            json!({"audience": {"name": "Warehouse", "kind": "DYNAMIC", "rule": "department = \"Warehouse\""}}),
            &admin,
        )
        .await;
    cluster
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateAssignment",
            json!({"assignment": {"pathwayId": pathway, "audienceId": audience["id"], "requirement": "MANDATORY",
                   "duePolicy": {"daysAfterAssignment": 30}}}),
            &admin,
        )
        .await;
}

/// Learner `n` passes the assessment (through any outage).
async fn pass(cluster: &Cluster, n: usize, assessment: &str, question: &str) {
    let attempt = start(cluster, n, assessment).await;
    submit(cluster, n, &attempt, question).await;
}

/// Learner `n` starts an attempt; its id.
async fn start(cluster: &Cluster, n: usize, assessment: &str) -> Value {
    let learner = cluster.learner(&format!("learner{n}"));
    cluster
        .through_outages(
            "lms.assessment.v1.AssessmentService/StartAttempt",
            json!({"assessmentId": assessment}),
            &learner,
        )
        .await["id"]
        .clone()
}

/// Learner `n` submits the right answer.
async fn submit(cluster: &Cluster, n: usize, attempt: &Value, question: &str) {
    let learner = cluster.learner(&format!("learner{n}"));
    cluster
        .through_outages(
            "lms.assessment.v1.AssessmentService/SubmitAttempt",
            json!({"attemptId": attempt,
                   "answers": [{"questionId": question, "answer": {"trueFalse": true}}]}),
            &learner,
        )
        .await;
}

/// Every learner has exactly one enrolment, completed by exactly one recorded outcome, and
/// exactly one certification; the compliance report counts each once.
async fn every_event_applied_once(cluster: &Cluster, pathway: &str, learners: usize) {
    let admin = cluster.admin();
    let report = cluster
        .eventually_within(
            Duration::from_secs(120),
            "lms.records.v1.RecordsService/StreamComplianceReport",
            json!({"pathwayId": pathway}),
            &admin,
            |lines| {
                lines
                    .as_array()
                    .and_then(|l| l.last())
                    .is_some_and(|last| last["totals"]["compliant"] == json!(learners.to_string()))
            },
        )
        .await;
    let rows: Vec<&Value> = report
        .as_array()
        .unwrap()
        .iter()
        .filter(|line| line.get("row").is_some())
        .collect();
    assert_eq!(rows.len(), learners, "one report row per learner");
    for n in 0..learners {
        let name = format!("learner{n}");
        let progress = cluster
            .ok(
                "lms.records.v1.RecordsService/ListProgress",
                json!({"learner": name}),
                &admin,
            )
            .await;
        let progress = progress["progress"].as_array().unwrap();
        assert_eq!(progress.len(), 1, "{name}: one enrolment in the record");
        let enrolment = progress[0]["enrolmentId"].as_str().unwrap();
        let activities = cluster
            .ok(
                "lms.records.v1.RecordsService/ListActivities",
                json!({"enrolmentId": enrolment}),
                &admin,
            )
            .await;
        let outcomes = activities["activities"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["source"] == "ASSESSMENT_OUTCOME")
            .count();
        assert_eq!(
            outcomes, 1,
            "{name}: the outcome recorded once: {activities}"
        );
        let certifications = cluster
            .ok(
                "lms.records.v1.RecordsService/ListCertifications",
                json!({"learner": name}),
                &admin,
            )
            .await;
        assert_eq!(
            certifications["certifications"]
                .as_array()
                .map_or(0, Vec::len),
            1,
            "{name}: one certification"
        );
    }
    let enrolments = cluster
        .ok(
            "lms.enrolment.v1.EnrolmentService/ListEnrolments",
            json!({"pathwayId": pathway, "pageSize": 1000}),
            &admin,
        )
        .await;
    assert_eq!(enrolments["enrolments"].as_array().unwrap().len(), learners);
}

const LEARNERS: usize = 24;

async fn records_killed_mid_stream_applies_every_event_once(backend: TestBackend) {
    let Some(cluster) = Cluster::start(backend, None).await else {
        return;
    };
    let (pathway, assessment, question) = certification_for_everyone(&cluster, LEARNERS).await;
    // Enrolments start flowing to records-service; it dies under them. A sixth of the
    // learners keep trying to pass meanwhile: StartAttempt asks records-service whether the
    // step is theirs to take, so it answers UNAVAILABLE until records-service is back.
    assign(&cluster, &pathway).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    cluster.kill("records-service");
    let relaunch = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.launch("records-service").await;
    };
    let passes = async {
        for n in 0..LEARNERS / 6 {
            pass(&cluster, n, &assessment, &question).await;
        }
    };
    tokio::join!(relaunch, passes);
    // Another sixth start their attempt, then submit while records-service is down: their
    // outcomes wait in assessment-service's outbox.
    let mut started = Vec::new();
    for n in LEARNERS / 6..LEARNERS / 3 {
        started.push((n, start(&cluster, n, &assessment).await));
    }
    cluster.kill("records-service");
    for (n, attempt) in started {
        submit(&cluster, n, &attempt, &question).await;
    }
    cluster.launch("records-service").await;
    // Killed again in the middle of the outcomes, and back.
    for n in LEARNERS / 3..LEARNERS * 2 / 3 {
        pass(&cluster, n, &assessment, &question).await;
    }
    cluster.kill("records-service");
    cluster.launch("records-service").await;
    for n in LEARNERS * 2 / 3..LEARNERS {
        pass(&cluster, n, &assessment, &question).await;
    }
    every_event_applied_once(&cluster, &pathway, LEARNERS).await;
}

/// PostgreSQL disappears under every service twice while enrolments and outcomes stream.
async fn postgres_cut_off_mid_stream_applies_every_event_once() {
    let proxy = DatabaseProxy::start().await;
    let Some(cluster) = Cluster::start(TestBackend::Postgres, Some(&proxy)).await else {
        return;
    };
    let (pathway, assessment, question) = certification_for_everyone(&cluster, LEARNERS).await;
    assign(&cluster, &pathway).await;
    proxy.cut();
    // While the database is away, calls answer UNAVAILABLE (never INTERNAL) and change
    // nothing.
    let status = cluster
        .rpc(
            "lms.pathway.v1.PathwayService/GetPathway",
            json!({"id": pathway}),
            Some(&cluster.admin()),
        )
        .await
        .expect_err("no database, no answer");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(!status.message().to_lowercase().contains("select"));
    // Health follows the database: NOT_SERVING while it is away, SERVING once it is back.
    cluster
        .health_becomes("pathway-service", ServingStatus::NotServing)
        .await;
    proxy.restore().await;
    cluster
        .health_becomes("pathway-service", ServingStatus::Serving)
        .await;
    for n in 0..LEARNERS / 2 {
        pass(&cluster, n, &assessment, &question).await;
    }
    proxy.cut();
    // Learners keep trying through the outage; their client retries UNAVAILABLE.
    let restore = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        proxy.restore().await;
    };
    let passes = async {
        for n in LEARNERS / 2..LEARNERS {
            pass(&cluster, n, &assessment, &question).await;
        }
    };
    tokio::join!(restore, passes);
    every_event_applied_once(&cluster, &pathway, LEARNERS).await;
}

/// The people of one bulk upsert (large enough to take a while in one transaction).
fn many_people(count: usize) -> Value {
    let people: Vec<Value> = (0..count)
        .map(|n| {
            json!({"externalId": format!("bulk{n}"), "displayName": format!("Bulk {n}"),
                        "email": format!("bulk{n}@acme.example"), "department": "Bulk"})
        })
        .collect();
    json!({"people": people})
}

async fn people_count(cluster: &Cluster) -> usize {
    let admin = cluster.admin();
    let mut count = 0;
    let mut token = String::new();
    loop {
        let page = cluster
            .through_outages(
                "lms.enrolment.v1.EnrolmentService/ListPeople",
                json!({"pageSize": 1000, "pageToken": token}),
                &admin,
            )
            .await;
        count += page["people"].as_array().map_or(0, Vec::len);
        token = page["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if token.is_empty() {
            return count;
        }
    }
}

/// Database `url`'s transactions as PostgreSQL shows them, watched through one connection of
/// its own: a look takes about a millisecond, so a short transaction is not missed between two
/// looks (as it could be when each look started psql, tens of milliseconds apart on a loaded
/// machine: the bulk upsert came and went unseen, and the test gave up after 30 s).
struct Transactions {
    conn: diesel::PgConnection,
    database: String,
}

impl Transactions {
    fn of(url: &str) -> Self {
        use diesel::Connection;
        let database = url.rsplit('/').next().unwrap().split('?').next().unwrap();
        Transactions {
            conn: diesel::PgConnection::establish(url).expect("a watching connection"),
            database: database.to_string(),
        }
    }

    /// Whether a transaction waits for a lock right now.
    fn one_waits_for_a_lock(&mut self) -> bool {
        self.any("wait_event_type = 'Lock'")
    }

    /// Whether a transaction that has written runs right now (the bulk upsert's). Any open
    /// transaction was not enough: the readers' snapshots are transactions too, and a SIGTERM
    /// sent during one of them could precede the upsert's arrival (the call then met the
    /// server's GOAWAY, never processed: a flaky failure).
    fn one_writes(&mut self) -> bool {
        self.any("state <> 'idle' AND backend_xid IS NOT NULL")
    }

    fn any(&mut self, condition: &str) -> bool {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Found {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            found: bool,
        }
        let found: Found = diesel::sql_query(format!(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = '{}' \
             AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND {condition}) AS found",
            self.database
        ))
        .get_result(&mut self.conn)
        .expect("pg_stat_activity");
        found.found
    }
}

const BULK: usize = 5_000;

async fn a_service_killed_inside_a_transaction_leaves_no_partial_write(backend: TestBackend) {
    let Some(cluster) = Cluster::start(backend, None).await else {
        return;
    };
    let admin = cluster.admin();
    let upsert = cluster.rpc(
        "lms.enrolment.v1.EnrolmentService/UpsertPeople",
        many_people(BULK),
        Some(&admin),
    );
    // On PostgreSQL the write is held inside its transaction: the test locks the people table
    // against writes first, so the upsert's transaction is open and waiting when the kill
    // comes (watching for an open transaction alone could see it in its last milliseconds and
    // kill after the commit).
    let mut lock = (backend == TestBackend::Postgres).then(|| {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let url = cluster.database_urls["enrolment-service"].clone();
        let mut conn = diesel::PgConnection::establish(&url).expect("a lock connection");
        conn.batch_execute("BEGIN; LOCK TABLE people IN EXCLUSIVE MODE;")
            .expect("the people table locked");
        conn
    });
    let kill = async {
        let started = Instant::now();
        if backend == TestBackend::Postgres {
            // Proof that the kill lands inside the write: PostgreSQL shows it waiting, open.
            let mut transactions = Transactions::of(&cluster.database_urls["enrolment-service"]);
            while !transactions.one_waits_for_a_lock() {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the upsert never started"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } else {
            // SQLite shows no open transaction to another process: the kill comes at some
            // moment of the write, possibly after it.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        cluster.kill("enrolment-service");
    };
    let (answer, ()) = tokio::join!(upsert, kill);
    if let Some(conn) = &mut lock {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("ROLLBACK").expect("the lock released");
    }
    if backend == TestBackend::Postgres {
        assert!(answer.is_err(), "the call was cut off: {answer:?}");
    }
    cluster.launch("enrolment-service").await;
    let count = people_count(&cluster).await;
    if backend == TestBackend::Postgres {
        assert_eq!(count, 0, "a killed transaction wrote {count} people");
    } else {
        assert!(
            count == 0 || count == BULK,
            "a partial write: {count} people"
        );
    }
    // The client's retry applies the whole upsert once.
    cluster
        .through_outages(
            "lms.enrolment.v1.EnrolmentService/UpsertPeople",
            many_people(BULK),
            &admin,
        )
        .await;
    assert_eq!(people_count(&cluster).await, BULK);
}

async fn sigterm_under_load_lets_in_flight_calls_finish(backend: TestBackend) {
    let Some(cluster) = Cluster::start(backend, None).await else {
        return;
    };
    let admin = cluster.admin();
    cluster
        .ok(
            "lms.enrolment.v1.EnrolmentService/UpsertPeople",
            many_people(100),
            &admin,
        )
        .await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers hammer the service until it is gone.
    let mut readers = Vec::new();
    for _ in 0..8 {
        let stop = stop.clone();
        let cluster = &cluster;
        let admin = admin.clone();
        readers.push(async move {
            let (mut ok, mut refused, mut cut) = (0, 0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match cluster
                    .rpc(
                        "lms.enrolment.v1.EnrolmentService/ListPeople",
                        json!({"pageSize": 50}),
                        Some(&admin),
                    )
                    .await
                {
                    Ok(_) => ok += 1,
                    // After the drain began, new calls are refused: UNAVAILABLE once the port
                    // is closed, or, for a call racing the server's GOAWAY on an open
                    // connection, CANCELLED "connection closed" or the GOAWAY itself (NO_ERROR,
                    // which hyper reports for a stream the server did not take) — HTTP/2
                    // guarantees such a stream was never processed, and a client retries it.
                    Err(status)
                        if status.code() == Code::Unavailable
                            || (status.code() == Code::Cancelled
                                && status.message().contains("canceled"))
                            || format!("{status:?}")
                                .contains("GoAway(b\"\", NO_ERROR, Remote)") =>
                    {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(status) => cut.push(format!("{status:?}")),
                }
            }
            (ok, refused, cut)
        });
    }
    let big_write = cluster.rpc(
        "lms.enrolment.v1.EnrolmentService/UpsertPeople",
        many_people(BULK),
        Some(&admin),
    );
    let terminate = async {
        if backend == TestBackend::Postgres {
            let mut transactions = Transactions::of(&cluster.database_urls["enrolment-service"]);
            let started = Instant::now();
            while !transactions.one_writes() {
                assert!(started.elapsed() < Duration::from_secs(30));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut child = cluster.signal("enrolment-service", "-TERM");
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        status
    };
    let (written, exit, readers) =
        tokio::join!(big_write, terminate, futures::future::join_all(readers));
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
    written.expect("the write in flight at SIGTERM completes");
    let served: usize = readers.iter().map(|r| r.0).sum();
    let cut: Vec<String> = readers.into_iter().flat_map(|r| r.2).collect();
    assert!(served > 0);
    assert!(cut.is_empty(), "calls cut off by the shutdown: {cut:?}");
    cluster.launch("enrolment-service").await;
    // The first hundred were among the bulk write's people already.
    assert_eq!(people_count(&cluster).await, BULK);
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_killed_mid_stream_applies_every_event_once() {
        super::records_killed_mid_stream_applies_every_event_once(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_service_killed_inside_a_transaction_leaves_no_partial_write() {
        super::a_service_killed_inside_a_transaction_leaves_no_partial_write(TestBackend::Sqlite)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_under_load_lets_in_flight_calls_finish() {
        super::sigterm_under_load_lets_in_flight_calls_finish(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_killed_mid_stream_applies_every_event_once() {
        super::records_killed_mid_stream_applies_every_event_once(TestBackend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_cut_off_mid_stream_applies_every_event_once() {
        super::postgres_cut_off_mid_stream_applies_every_event_once().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_service_killed_inside_a_transaction_leaves_no_partial_write() {
        super::a_service_killed_inside_a_transaction_leaves_no_partial_write(TestBackend::Postgres)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_under_load_lets_in_flight_calls_finish() {
        super::sigterm_under_load_lets_in_flight_calls_finish(TestBackend::Postgres).await;
    }
}
