//! Writes and bulk work: the audience fan-out, records applying its events, the compliance
//! report, a step completion, starting and submitting an attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use lms_platform::Role;
use lms_proto::assessment_v1 as assessment_pb;
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::records_v1 as records_pb;
use lms_topology::Component;
use serde_json::json;

use super::super::load::{Stats, drive, drive_counting};
use super::super::suite::{Organisation, Suite, admin, token};
use super::reads::records_app;
use super::*;

pub(super) async fn fan_out(
    suite: &Suite,
    org: &Organisation,
    pathway: &str,
    baseline_pathway: &str,
) -> anyhow::Result<Row> {
    let mut enrolments = enrolment_pb::enrolment_service_client::EnrolmentServiceClient::connect(
        suite.grpc["enrolment-service"].clone(),
    )
    .await?;
    let started = Instant::now();
    let created = enrolments
        .create_assignment(bearer(assignment(pathway, &org.everyone), &admin()))
        .await
        .context("the fan-out assignment")?
        .into_inner();
    let result = Stats::single(started.elapsed(), created.enrolled_count as u64);
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Enrolment).await?;
    let settings = &topology.settings.enrolment;
    let app = enrolment_service::app(db, settings, &topology.enrolment_peers()?);
    let (domain, _) = enrolment_service::grpc::convert::new_assignment(assignment(
        baseline_pathway,
        &org.everyone,
    ))
    .map_err(|s| anyhow::anyhow!("{s:?}"))?;
    let started = Instant::now();
    // As the services' own clients do: on SQLite this process's transaction meets the
    // suite's, which is still applying the first fan-out's events to the same file.
    let admin_principal = principal("admin@bench", Role::Admin);
    let view = retrying(|| app.create_assignment(&admin_principal, domain.clone(), None))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let storage = Stats::single(started.elapsed(), view.enrolled as u64);
    eprintln!(
        "fan-out: {:?} (storage {:?})",
        result.seconds, storage.seconds
    );
    Ok(Row {
        workload: format!("audience fan-out ({} people)", org.people),
        transport: "gRPC".into(),
        clients: 1,
        result,
        storage: Some(storage),
        notes: "one CreateAssignment to the audience of everyone; ops/s = enrolments/s, latency = the call".into(),
        against: None,
        same_statements: None,
    })
}

pub(super) async fn compliance_report(
    suite: &Suite,
    pathway: &str,
    duration: Duration,
    people: usize,
) -> anyhow::Result<Row> {
    let url = suite.grpc["records-service"].clone();
    let pathway = Arc::new(pathway.to_string());
    let first_rows = Arc::new(std::sync::Mutex::new(Vec::new()));
    let result = {
        let pathway = pathway.clone();
        let first_rows = first_rows.clone();
        drive(1, duration, move |_, _| {
            let url = url.clone();
            let pathway = pathway.clone();
            let first_rows = first_rows.clone();
            async move {
                let started = Instant::now();
                let mut records =
                    records_pb::records_service_client::RecordsServiceClient::connect(url)
                        .await
                        .map_err(|e| e.to_string())?;
                let mut stream = records
                    .stream_compliance_report(bearer(
                        records_pb::ComplianceReportRequest {
                            pathway_id: pathway.to_string(),
                            scope: None,
                        },
                        &admin(),
                    ))
                    .await
                    .map_err(|s| s.to_string())?
                    .into_inner();
                let mut rows = 0usize;
                while let Some(item) = stream.message().await.map_err(|s| s.to_string())? {
                    if rows == 0 {
                        first_rows
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(started.elapsed());
                    }
                    if matches!(
                        item.item,
                        Some(records_pb::compliance_report_item::Item::Row(_))
                    ) {
                        rows += 1;
                    }
                }
                if rows == people {
                    Ok(())
                } else {
                    Err(format!("{rows} rows, {people} expected"))
                }
            }
        })
        .await
    };
    let app = Arc::new(records_app(suite).await?);
    let storage = drive(1, duration, move |_, _| {
        let app = app.clone();
        let pathway = pathway.clone();
        async move {
            let mut lines = app
                .compliance_report(
                    &principal("admin@bench", Role::Admin),
                    pathway.to_string().into(),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?;
            let mut rows = 0usize;
            while let Some(line) = lines.recv().await {
                line.map_err(|e| e.to_string())?;
                rows += 1;
            }
            if rows == people {
                Ok(())
            } else {
                Err(format!("{rows} rows, {people} expected"))
            }
        }
    })
    .await;
    let mut first = first_rows.lock().unwrap_or_else(|p| p.into_inner()).clone();
    first.sort();
    let first_row = first.get(first.len() / 2).copied().unwrap_or_default();
    eprintln!(
        "report: {:.0} ms (storage {:.0} ms)",
        result.p50_ms, storage.p50_ms
    );
    Ok(Row {
        workload: format!("compliance report ({people} rows)"),
        transport: "gRPC stream".into(),
        clients: 1,
        result,
        storage: Some(storage),
        notes: format!(
            "one report after another; latency = all rows; first row after {:.0} ms (median)",
            first_row.as_secs_f64() * 1000.0
        ),
        against: None,
        same_statements: None,
    })
}

pub(super) async fn record_completion(
    suite: &Suite,
    enrolments: &[(String, String)],
    step: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    // Each completion is of a fresh enrolment: the first half for the workload, the second
    // for the baseline.
    let half = enrolments.len() / 2;
    let workload: Arc<Vec<(String, String)>> = Arc::new(enrolments[..half].to_vec());
    let baseline: Arc<Vec<(String, String)>> = Arc::new(enrolments[half..].to_vec());
    let step = Arc::new(step.to_string());
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let base = Arc::new(suite.gateway.clone());
    let result = {
        let step = step.clone();
        drive(clients, duration, move |_, _| {
            let (enrolment, learner) =
                workload[next.fetch_add(1, Ordering::Relaxed) % workload.len()].clone();
            let http = http.clone();
            let base = base.clone();
            let step = step.clone();
            async move {
                let response = http
                    .post(format!("{base}/v1/progress/{enrolment}:recordActivity"))
                    .bearer_auth(token(&learner, Role::Learner))
                    .json(&json!({"stepId": step.as_str(), "kind": "STEP_COMPLETED"}))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if response.status().is_success() {
                    response
                        .bytes()
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                } else {
                    Err(format!(
                        "HTTP {}: {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    ))
                }
            }
        })
        .await
    };
    let app = Arc::new(records_app(suite).await?);
    let next = Arc::new(AtomicUsize::new(0));
    let storage = drive_counting(clients, duration, move |_, _| {
        let (enrolment_id, learner) =
            baseline[next.fetch_add(1, Ordering::Relaxed) % baseline.len()].clone();
        let app = app.clone();
        let step = step.clone();
        async move {
            let who = principal(&learner, Role::Learner);
            retrying(|| {
                let activity = records_service::domain::activity::NewActivity {
                    enrolment_id: enrolment_id.clone().into(),
                    step_id: step.to_string(),
                    completed: true,
                    evidence_url: String::new(),
                    note: String::new(),
                };
                app.record_activity(&who, activity, None)
            })
            .await
            .map(|_| ())
        }
    })
    .await;
    Ok(Row::closed_loop(
        "record a step completion",
        "HTTP → gateway → gRPC",
        clients,
        result,
        storage,
        "each a first completion of a step on its own enrolment (a write)",
    ))
}

pub(super) async fn submit_attempt(
    suite: &Suite,
    enrolments: &[(String, String)],
    assessment: &str,
    question: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let half = enrolments.len() / 2;
    let learners: Arc<Vec<String>> =
        Arc::new(enrolments[..half].iter().map(|(_, l)| l.clone()).collect());
    let baseline: Arc<Vec<String>> =
        Arc::new(enrolments[half..].iter().map(|(_, l)| l.clone()).collect());
    let assessment = Arc::new(assessment.to_string());
    let question = Arc::new(question.to_string());
    let connections = channels(&suite.grpc["assessment-service"]).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let submit_latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let result = {
        let assessment = assessment.clone();
        let question = question.clone();
        let submit_latencies = submit_latencies.clone();
        drive(clients, duration, move |client, _| {
            let learner = learners[next.fetch_add(1, Ordering::Relaxed) % learners.len()].clone();
            let mut assessments =
                assessment_pb::assessment_service_client::AssessmentServiceClient::new(
                    connections[client % CONNECTIONS].clone(),
                );
            let assessment = assessment.clone();
            let question = question.clone();
            let submit_latencies = submit_latencies.clone();
            async move {
                let token = token(&learner, Role::Learner);
                let attempt = assessments
                    .start_attempt(bearer(
                        assessment_pb::StartAttemptRequest {
                            assessment_id: assessment.to_string(),
                        },
                        &token,
                    ))
                    .await
                    .map_err(|s| s.to_string())?
                    .into_inner();
                let started = Instant::now();
                let graded = assessments
                    .submit_attempt(bearer(
                        assessment_pb::SubmitAttemptRequest {
                            attempt_id: attempt.id,
                            answers: vec![assessment_pb::QuestionAnswer {
                                question_id: question.to_string(),
                                answer: Some(assessment_pb::AnswerValue {
                                    value: Some(assessment_pb::answer_value::Value::TrueFalse(
                                        true,
                                    )),
                                }),
                            }],
                        },
                        &token,
                    ))
                    .await
                    .map_err(|s| s.to_string())?
                    .into_inner();
                submit_latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(started.elapsed());
                if graded.passed {
                    Ok(())
                } else {
                    Err("not passed".into())
                }
            }
        })
        .await
    };
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Assessment).await?;
    let app = Arc::new(assessment_service::app(db, &topology.assessment_peers()?));
    let next = Arc::new(AtomicUsize::new(0));
    let storage = drive_counting(clients, duration, move |_, _| {
        let learner = baseline[next.fetch_add(1, Ordering::Relaxed) % baseline.len()].clone();
        let app = app.clone();
        let assessment = assessment.clone();
        let question = question.clone();
        async move {
            let who = principal(&learner, Role::Learner);
            let attempt = retrying(|| app.start_attempt(&who, assessment.to_string())).await?;
            retrying(|| {
                let answers = vec![(
                    question.to_string(),
                    assessment_service::domain::question::Answer::TrueFalse { value: true },
                )];
                app.submit_attempt(&who, attempt.attempt.id.clone(), answers)
            })
            .await
            .map(|_| ())
        }
    })
    .await;
    let mut submits = submit_latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    submits.sort();
    let p99 = submits
        .get((submits.len() * 99).div_ceil(100).saturating_sub(1))
        .copied()
        .unwrap_or_default();
    Ok(Row::closed_loop(
        "start + submit an attempt",
        "gRPC",
        clients,
        result,
        storage,
        format!(
            "one operation = StartAttempt (which asks enrolment-service's CheckAccess) then SubmitAttempt, each learner once; the submit alone: p99 {:.1} ms",
            p99.as_secs_f64() * 1000.0
        ),
    ))
}

/// Two fan-outs to everyone, the events they cause, the compliance report, and (`writes`) the
/// write workloads on the fan-out's fresh enrolments.
pub(super) async fn fan_out_and_writes(
    suite: &Suite,
    http: &Http,
    org: &suite::Organisation,
    clients: usize,
    duration: Duration,
    writes: bool,
) -> anyhow::Result<Vec<Row>> {
    let records_url = suite.grpc["records-service"].clone();
    let mut rows = Vec::new();
    let label = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let (pathway, step, assessment, question) = fresh_pathway(http, &label).await?;
    let (baseline_pathway, _, _, _) = fresh_pathway(http, &format!("{label}-baseline")).await?;
    rows.push(fan_out(suite, org, &pathway, &baseline_pathway).await?);
    let drained = Instant::now();
    suite.analyze()?;
    // Both consumers work side by side, as in production: each is timed from the end of the
    // fan-outs to its own end, not one after the other.
    let notifications = database(&in_process(suite).await?, Component::Notification).await?;
    let fanned = [pathway.clone(), baseline_pathway.clone()];
    let (records_done, notified) = tokio::join!(
        async {
            suite::records_caught_up(&records_url, &pathway, org.people).await?;
            suite::records_caught_up(&records_url, &baseline_pathway, org.people).await?;
            anyhow::Ok(drained.elapsed())
        },
        async {
            let settled =
                crate::notify::assigned_settled(&notifications, &fanned, 2 * org.people).await?;
            anyhow::Ok((settled, drained.elapsed()))
        }
    );
    let (records_done, (settled, notified)) = (records_done?, notified?);
    rows.push(Row {
        workload: format!(
            "records applies the fan-outs' {} enrolment events",
            2 * org.people
        ),
        transport: "events".into(),
        clients: 1,
        result: Stats::single(records_done, 2 * org.people as u64),
        storage: None,
        notes: "measured from the end of the fan-outs; ops/s = events/s".into(),
        against: None,
        same_statements: None,
    });
    rows.push(Row {
        workload: format!("notification-service puts the fan-outs' {settled} assigned notifications in inboxes"),
        transport: "events".into(),
        clients: 1,
        result: Stats::single(notified, settled as u64),
        storage: None,
        notes: "measured from the end of the fan-outs (events delivered, directory asked, template rendered, inbox written; email off); ops/s = notifications/s".into(),
        against: None,
        same_statements: None,
    });
    rows.push(compliance_report(suite, &pathway, duration, org.people).await?);
    if !writes {
        return Ok(rows);
    }
    let enrolments = enrolments_of(http, &pathway).await?;
    rows.push(
        record_completion(suite, &enrolments, &step, clients, duration)
            .await?
            .against(Against::SmallWrites),
    );
    rows.push(
        submit_attempt(
            suite,
            &enrolments,
            &assessment,
            &question,
            clients,
            duration,
        )
        .await?
        .against(Against::SmallWrites),
    );
    Ok(rows)
}
