//! Replicas behind one name, as a headless Service gives them in Kubernetes: two
//! `lms serve enrolment` processes on one port of two loopback addresses, one name in
//! `/etc/hosts` for both, and `lms serve assessment` calling that name. Learners start
//! attempts (each asks enrolment-service's CheckAccess); each replica's own /metrics shows
//! it answered some of those calls.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lms_platform::Role;
use lms_test_support::{HostsEntry, Rpcs, TestAuth};
use serde_json::{Value, json};
use tonic::transport::Channel;

fn free_port(ip: &str) -> u16 {
    lms_test_support::port_for_a_child(ip)
}

/// `lms serve <section>` with `env`; killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(section: &str, listen: &str, env: &[(String, String)]) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lms"));
    for (key, _) in std::env::vars() {
        if key.starts_with("LMS__") {
            command.env_remove(key);
        }
    }
    let served = Served(
        command
            .args(["serve", section])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(format!("LMS__{}__LISTEN", section.to_uppercase()), listen)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lms serve starts"),
    );
    let started = Instant::now();
    loop {
        let probe = tokio::process::Command::new(env!("CARGO_BIN_EXE_lms"))
            .args(["probe", listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .unwrap();
        if probe.success() {
            return served;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{section} at {listen} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// CheckAccess calls a replica answered, from its Prometheus endpoint.
async fn check_access_calls(metrics: &str) -> u64 {
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| {
            line.starts_with("grpc_server_handled_total{")
                && line.contains(r#"grpc_method="CheckAccess""#)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn assessment_service_calls_reach_both_enrolment_replicas_behind_one_name() {
    let Some(hosts) = HostsEntry::add(&["127.0.0.2", "127.0.0.3"]) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let auth = TestAuth::default();
    let port = free_port("127.0.0.2");
    let (pathway, assessment, records) = (
        format!("127.0.0.1:{}", free_port("127.0.0.1")),
        format!("127.0.0.1:{}", free_port("127.0.0.1")),
        format!("127.0.0.1:{}", free_port("127.0.0.1")),
    );
    let metrics = [
        format!("127.0.0.1:{}", free_port("127.0.0.1")),
        format!("127.0.0.1:{}", free_port("127.0.0.1")),
    ];
    let sqlite = |name: &str| format!("sqlite://{}/{name}.db", data.path().display());
    let env = |extra: &[(&str, String)]| -> Vec<(String, String)> {
        let mut env = vec![
            ("LMS__AUTH__HS256_SECRET", auth.config().hs256_secret),
            ("LMS__TOPOLOGY__PATHWAY", format!("http://{pathway}")),
            (
                "LMS__TOPOLOGY__ENROLMENT",
                format!("http://{}:{port}", hosts.name),
            ),
            ("LMS__TOPOLOGY__ASSESSMENT", format!("http://{assessment}")),
            // Asked by assessment-service whether a learner may take the step now.
            ("LMS__TOPOLOGY__RECORDS", format!("http://{records}")),
            ("LMS__CLIENT__RESOLVE_INTERVAL_SECONDS", "1".into()),
            ("LMS__ENROLMENT__AUDIENCE_SWEEP_SECONDS", "0".into()),
            ("LMS__TELEMETRY__METRICS_LISTEN", String::new()),
            ("LMS__TELEMETRY__LOG_LEVEL", "error".into()),
            ("LMS__PATHWAY__DATABASE_URL", sqlite("pathway")),
            ("LMS__ENROLMENT__DATABASE_URL", sqlite("enrolment")),
            ("LMS__ASSESSMENT__DATABASE_URL", sqlite("assessment")),
            ("LMS__RECORDS__DATABASE_URL", sqlite("records")),
        ];
        env.extend(extra.iter().cloned());
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    };
    let _pathway = serve("pathway", &pathway, &env(&[])).await;
    // One after the other: the first migrates the shared database.
    let replica = |n: usize| env(&[("LMS__TELEMETRY__METRICS_LISTEN", metrics[n].clone())]);
    let first = format!("127.0.0.2:{port}");
    let _first = serve("enrolment", &first, &replica(0)).await;
    let _second = serve("enrolment", &format!("127.0.0.3:{port}"), &replica(1)).await;
    let _records = serve("records", &records, &env(&[])).await;
    let _assessment = serve("assessment", &assessment, &env(&[])).await;

    let channel = |address: &str| {
        Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy()
    };
    let rpcs = Rpcs::new(HashMap::from([
        ("pathway-service".to_string(), channel(&pathway)),
        ("enrolment-service".to_string(), channel(&first)),
        ("assessment-service".to_string(), channel(&assessment)),
    ]));
    let learners = 40;
    let assessment_id = seed(&rpcs, &auth, learners).await;
    for n in 0..learners {
        let learner = auth.token("acme", &format!("learner{n}"), &[Role::Learner]);
        rpcs.ok(
            "lms.assessment.v1.AssessmentService/StartAttempt",
            json!({"assessmentId": assessment_id}),
            &learner,
        )
        .await;
    }
    let calls = [
        check_access_calls(&metrics[0]).await,
        check_access_calls(&metrics[1]).await,
    ];
    assert_eq!(calls.iter().sum::<u64>(), learners as u64, "{calls:?}");
    assert!(
        calls[0] >= 5 && calls[1] >= 5,
        "both replicas answered: {calls:?}"
    );
}

/// A published pathway with one assessment step, and `learners` people enrolled in it through
/// an assignment; the assessment's id.
async fn seed(rpcs: &Rpcs, auth: &TestAuth, learners: usize) -> String {
    let admin = auth.admin("acme");
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let pathway = id(&rpcs
        .ok(
            "lms.pathway.v1.PathwayService/CreatePathway",
            json!({"pathway": {"title": "Ladder safety", "outcome": "COMPLIANCE"}}),
            &admin,
        )
        .await);
    let bank = id(&rpcs
        .ok(
            "lms.assessment.v1.AssessmentService/CreateQuestionBank",
            json!({"bank": {"name": "Ladders"}}),
            &admin,
        )
        .await);
    let question = id(&rpcs
        .ok(
            "lms.assessment.v1.AssessmentService/CreateQuestion",
            json!({"bankId": bank, "question": {"text": "Three points of contact.", "trueFalse": {"answer": true}}}),
            &admin,
        )
        .await);
    let assessment = id(&rpcs
        .ok(
            "lms.assessment.v1.AssessmentService/CreateAssessment",
            json!({"assessment": {"title": "Ladder test", "pathwayId": pathway,
                   "fixed": {"questionIds": [question]}, "passMarkPercent": 100}}),
            &admin,
        )
        .await);
    rpcs.ok(
        "lms.pathway.v1.PathwayService/AddStep",
        json!({"pathwayId": pathway, "step": {"title": "Test", "required": true,
               "assessment": {"assessmentId": assessment}}}),
        &admin,
    )
    .await;
    rpcs.ok(
        "lms.pathway.v1.PathwayService/PublishPathway",
        json!({"id": pathway}),
        &admin,
    )
    .await;
    let people: Vec<Value> = (0..learners)
        .map(|n| {
            json!({"externalId": format!("learner{n}"), "displayName": format!("Learner {n}"),
                   "email": format!("learner{n}@acme.example"), "department": "Facilities"})
        })
        .collect();
    rpcs.ok(
        "lms.enrolment.v1.EnrolmentService/UpsertPeople",
        json!({"people": people}),
        &admin,
    )
    .await;
    let audience = id(&rpcs
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateAudience",
            json!({"audience": {"name": "Facilities", "kind": "DYNAMIC",
                   "rule": "department = \"Facilities\""}}),
            &admin,
        )
        .await);
    rpcs.ok(
        "lms.enrolment.v1.EnrolmentService/CreateAssignment",
        json!({"assignment": {"pathwayId": pathway, "audienceId": audience,
               "requirement": "OPTIONAL"}}),
        &admin,
    )
    .await;
    assessment
}
