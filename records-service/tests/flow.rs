//! The learner record across real services: pathway-, enrolment-, assessment- and
//! records-service on ephemeral ports, each on its own throwaway database, their outboxes
//! delivering to each other — SQLite (`sqlite::...`) and PostgreSQL (`postgres::...`).

mod support;

use std::time::{Duration, Instant};

use support::*;

lms_test_support::on_both_databases!(Suite;
    a_learner_goes_from_assignment_to_completion,
    bad_activities_and_other_learners_are_refused,
    events_apply_once_and_early_outcomes_wait,
    one_delivery_of_an_enrolments_revisions_keeps_the_newest,
    completing_a_certification_pathway_issues_a_verifiable_certificate,
    an_opened_recertification_window_starts_a_new_cycle,
    admins_record_external_training_with_an_audit_trail,
    events_sent_while_records_is_down_arrive_once,
    admins_move_in_flight_learners_to_a_newer_version,
    the_whole_flow_loses_and_doubles_nothing_across_a_records_outage,
);

async fn a_learner_goes_from_assignment_to_completion(suite: Suite) {
    let (pathway, steps, assessment) = suite.compliance_pathway().await;
    suite.assign(&pathway).await;
    let listed = suite.wait_for(|p| !p.is_empty()).await;
    let progress = &listed[0];
    assert_eq!(progress.status(), pb::ProgressStatus::NotStarted);
    assert_eq!(progress.pathway_title, "Anti-bribery");
    assert_eq!(progress.next_step_ids, [steps[0].clone()]);
    assert!(progress.due_time.is_some());
    let accept = &progress.steps[1];
    assert_eq!(accept.state(), pb::StepState::StepLocked);
    assert_eq!(accept.unlocked_by, [steps[0].clone()]);
    let enrolment = progress.enrolment_id.clone();

    let ada = suite.learner("ada");
    let locked = suite
        .complete(&ada, &enrolment, &steps[1])
        .await
        .unwrap_err();
    assert_eq!(locked.code(), Code::FailedPrecondition);
    assert!(locked.message().contains("“Read”"), "{}", locked.message());

    let (rows, _) = suite.compliance(&suite.admin(), &pathway).await.unwrap();
    assert_eq!(rows[0].state(), pb::ComplianceState::ComplianceNotStarted);
    let after_read = suite.complete(&ada, &enrolment, &steps[0]).await.unwrap();
    let (rows, totals) = suite.compliance(&suite.admin(), &pathway).await.unwrap();
    assert_eq!(rows[0].state(), pb::ComplianceState::ComplianceInProgress);
    assert_eq!((totals.learners, totals.in_progress), (1, 1));
    assert_eq!(after_read.status(), pb::ProgressStatus::InProgress);
    assert_eq!(after_read.percent, 33.33);
    let again = suite.complete(&ada, &enrolment, &steps[0]).await.unwrap();
    assert_eq!(again.percent, 33.33, "completing twice counts once");
    suite.complete(&ada, &enrolment, &steps[1]).await.unwrap();
    let not_so = suite
        .complete(&ada, &enrolment, &steps[2])
        .await
        .unwrap_err();
    assert_eq!(
        not_so.code(),
        Code::FailedPrecondition,
        "assessment steps complete from a result"
    );

    // The first activity reached enrolment-service: the enrolment has started.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = suite
            .enrolments
            .clone()
            .list_enrolments(bearer(
                &suite.admin(),
                enrolment_pb::ListEnrolmentsRequest {
                    learner: "ada".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .enrolments;
        if listed.iter().any(|e| e.start_time.is_some()) {
            break;
        }
        assert!(Instant::now() < deadline, "EnrolmentStarted never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Ada passes the final test; the outcome completes the pathway.
    let mut assessments = suite.assessments.clone();
    let attempt = assessments
        .start_attempt(bearer(
            &ada,
            assessment_pb::StartAttemptRequest {
                assessment_id: assessment,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let question = attempt.questions[0].question_id.clone();
    let graded = assessments
        .submit_attempt(bearer(
            &ada,
            assessment_pb::SubmitAttemptRequest {
                attempt_id: attempt.id,
                answers: vec![assessment_pb::QuestionAnswer {
                    question_id: question,
                    answer: Some(assessment_pb::AnswerValue {
                        value: Some(assessment_pb::answer_value::Value::TrueFalse(true)),
                    }),
                }],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(graded.passed);
    let done = suite
        .wait_for(|p| {
            p.first()
                .is_some_and(|p| p.status() == pb::ProgressStatus::Completed)
        })
        .await;
    assert_eq!(done[0].percent, 100.0);
    assert!(done[0].complete_time.is_some());
    assert_eq!(done[0].steps[2].score_percent, 100.0);
    let log = suite
        .records
        .clone()
        .list_activities(bearer(
            &ada,
            pb::ListActivitiesRequest {
                enrolment_id: enrolment,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .activities;
    let sources: Vec<pb::ActivitySource> = log.iter().map(|a| a.source()).collect();
    assert_eq!(
        sources,
        [
            pb::ActivitySource::Learner,
            pb::ActivitySource::Learner,
            pb::ActivitySource::AssessmentOutcome
        ],
        "append-only, one entry per real event"
    );

    // The compliance report on the pathway: Ada's row, then the totals.
    let (rows, totals) = suite.compliance(&suite.admin(), &pathway).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].learner.as_str(), rows[0].state()),
        ("ada", pb::ComplianceState::ComplianceCompliant)
    );
    assert_eq!((totals.learners, totals.compliant), (1, 1));
    let learner = suite.compliance(&ada, &pathway).await.unwrap_err();
    assert_eq!(learner.code(), Code::PermissionDenied);
}

async fn bad_activities_and_other_learners_are_refused(suite: Suite) {
    let (pathway, steps, _) = suite.compliance_pathway().await;
    suite.assign(&pathway).await;
    let listed = suite.wait_for(|p| !p.is_empty()).await;
    let enrolment = listed[0].enrolment_id.clone();
    let ada = suite.learner("ada");
    let foreign = suite
        .complete(&ada, &enrolment, "0190d5a0-0000-7000-8000-0000000000ff")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&foreign), ["step_id"]);
    let bob = suite.learner("bob");
    let theirs = suite
        .complete(&bob, &enrolment, &steps[0])
        .await
        .unwrap_err();
    assert_eq!(
        theirs.code(),
        Code::NotFound,
        "another learner's enrolment does not exist for Bob"
    );
    let read = suite
        .records
        .clone()
        .get_progress(bearer(
            &bob,
            pb::GetProgressRequest {
                enrolment_id: enrolment.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(read.code(), Code::NotFound);
    let listing = suite
        .records
        .clone()
        .list_progress(bearer(
            &bob,
            pb::ListProgressRequest {
                learner: "ada".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(listing.code(), Code::PermissionDenied);
    let globex = suite.auth.admin("globex");
    let other_tenant = suite
        .records
        .clone()
        .get_progress(bearer(
            &globex,
            pb::GetProgressRequest {
                enrolment_id: enrolment.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(other_tenant.code(), Code::NotFound);
    // Staff read anyone's progress.
    let staff = suite
        .records
        .clone()
        .get_progress(bearer(
            &suite.auth.token("acme", "prof", &[Role::Instructor]),
            pb::GetProgressRequest {
                enrolment_id: enrolment,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(staff.learner, "ada");
}

async fn events_apply_once_and_early_outcomes_wait(suite: Suite) {
    use prost::{Message, Name};
    let service = suite
        .auth
        .token("acme", "assessment-service", &[Role::Service]);
    let outcome = assessment_pb::AssessmentOutcome {
        attempt_id: "0190d5a0-0000-7000-8000-000000000001".into(),
        assessment_id: "0190d5a0-0000-7000-8000-000000000002".into(),
        pathway_id: "0190d5a0-0000-7000-8000-000000000003".into(),
        learner: "ada".into(),
        attempt_number: 1,
        score: 1.0,
        max_score: 1.0,
        passed: true,
        result_percent: 100.0,
        result_passed: true,
        ..Default::default()
    };
    let event = events_pb::Event {
        id: "0190d5a0-0000-7000-8000-0000000000e1".into(),
        tenant_id: "acme".into(),
        aggregate_id: outcome.attempt_id.clone(),
        payload: Some(prost_types::Any {
            type_url: assessment_pb::AssessmentOutcome::type_url(),
            value: outcome.encode_to_vec(),
        }),
        occur_time: None,
        traceparent: String::new(),
    };
    let garbage = events_pb::Event {
        id: "0190d5a0-0000-7000-8000-0000000000e2".into(),
        payload: Some(prost_types::Any {
            type_url: "type.googleapis.com/nobody.Knows".into(),
            value: vec![1, 2, 3],
        }),
        ..event.clone()
    };
    // One delivery, three fates: the outcome for an enrolment not known yet is kept for a retry,
    // the unreadable event rejected for good — each on its own, in the same delivery.
    let mut events = suite.records_events.clone();
    let early = events
        .deliver_events(bearer(
            &service,
            events_pb::DeliverEventsRequest {
                events: vec![event.clone(), garbage.clone()],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(early.acknowledged.is_empty(), "kept for a retry: {early:?}");
    assert_eq!(early.rejected, ["0190d5a0-0000-7000-8000-0000000000e2"]);
    let learner = events
        .deliver_events(bearer(
            &suite.learner("ada"),
            events_pb::DeliverEventsRequest { events: vec![] },
        ))
        .await
        .unwrap_err();
    assert_eq!(learner.code(), Code::PermissionDenied);

    // The real flow delivers each enrolment event once into the projection, however often it
    // is offered: the list shows one enrolment.
    let (pathway, _, _) = suite.compliance_pathway().await;
    suite.assign(&pathway).await;
    let listed = suite.wait_for(|p| !p.is_empty()).await;
    assert_eq!(listed.len(), 1);
}

/// A delivery is applied in bulk: an enrolment it holds three times (created, then revision 3,
/// then a late revision 2) ends as revision 3, as one event after another would leave it; a
/// revision 2 delivered again later changes nothing either; a revision 4 later does.
async fn one_delivery_of_an_enrolments_revisions_keeps_the_newest(suite: Suite) {
    use prost::{Message, Name};
    let (pathway, _, _) = suite.compliance_pathway().await;
    let service = suite
        .auth
        .token("acme", "enrolment-service", &[Role::Service]);
    let due = |day: u32| {
        let at = chrono::NaiveDate::from_ymd_opt(2027, 1, day)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        prost_types::Timestamp {
            seconds: at.and_utc().timestamp(),
            nanos: 0,
        }
    };
    let enrolment = |revision: i64, day: u32| enrolment_pb::Enrolment {
        id: "0190d5a0-0000-7000-8000-0000000000f1".into(),
        person_id: "0190d5a0-0000-7000-8000-0000000000f2".into(),
        learner: "grace".into(),
        pathway_id: pathway.clone(),
        pathway_version: 1,
        status: enrolment_pb::EnrolmentStatus::EnrolmentActive as i32,
        requirement: enrolment_pb::Requirement::Mandatory as i32,
        assign_time: Some(due(1)),
        due_time: Some(due(day)),
        etag: format!("\"{revision}\""),
        ..Default::default()
    };
    let event = |n: u8, any: prost_types::Any| events_pb::Event {
        id: format!("0190d5a0-0000-7000-8000-0000000001{n:02}"),
        tenant_id: "acme".into(),
        aggregate_id: "0190d5a0-0000-7000-8000-0000000000f1".into(),
        payload: Some(any),
        occur_time: None,
        traceparent: String::new(),
    };
    let created = |e| prost_types::Any {
        type_url: enrolment_pb::EnrolmentCreated::type_url(),
        value: enrolment_pb::EnrolmentCreated { enrolment: Some(e) }.encode_to_vec(),
    };
    let updated = |e| prost_types::Any {
        type_url: enrolment_pb::EnrolmentUpdated::type_url(),
        value: enrolment_pb::EnrolmentUpdated { enrolment: Some(e) }.encode_to_vec(),
    };
    let deliver = |events: Vec<events_pb::Event>| {
        let mut consumer = suite.records_events.clone();
        let service = service.clone();
        async move {
            consumer
                .deliver_events(bearer(&service, events_pb::DeliverEventsRequest { events }))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let answer = deliver(vec![
        event(1, created(enrolment(1, 10))),
        event(2, updated(enrolment(3, 30))),
        event(3, updated(enrolment(2, 20))),
    ])
    .await;
    assert_eq!(answer.acknowledged.len(), 3, "{answer:?}");
    let progress = |suite: &Suite| {
        let mut records = suite.records.clone();
        let admin = suite.admin();
        async move {
            records
                .get_progress(bearer(
                    &admin,
                    pb::GetProgressRequest {
                        enrolment_id: "0190d5a0-0000-7000-8000-0000000000f1".into(),
                    },
                ))
                .await
                .unwrap()
                .into_inner()
        }
    };
    assert_eq!(progress(&suite).await.due_time, Some(due(30)));
    let late = deliver(vec![event(4, updated(enrolment(2, 20)))]).await;
    assert_eq!(late.acknowledged.len(), 1);
    assert_eq!(progress(&suite).await.due_time, Some(due(30)));
    // A newer revision in a later delivery replaces the stored one.
    let newer = deliver(vec![event(5, updated(enrolment(4, 28)))]).await;
    assert_eq!(newer.acknowledged.len(), 1);
    assert_eq!(progress(&suite).await.due_time, Some(due(28)));
}

async fn completing_a_certification_pathway_issues_a_verifiable_certificate(suite: Suite) {
    let admin = suite.admin();
    let mut pathways = suite.pathways.clone();
    let pathway = pathways
        .create_pathway(bearer(
            &admin,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway_pb::Pathway {
                    title: "Forklift licence".into(),
                    outcome: pathway_pb::Outcome::Certification as i32,
                    certification: Some(pathway_pb::CertificationPolicy {
                        validity_days: 365,
                        recertification_window_days: 30,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let step = pathways
        .add_step(bearer(
            &admin,
            pathway_pb::AddStepRequest {
                pathway_id: pathway.id.clone(),
                step: Some(pathway_pb::Step {
                    title: "Safety briefing".into(),
                    required: true,
                    kind: Some(pathway_pb::step::Kind::Content(pathway_pb::ContentStep {
                        cmi5: None,
                        url: "https://learn.example.com/forklift".into(),
                        media_type: pathway_pb::content_step::MediaType::Video as i32,
                    })),
                    ..Default::default()
                }),
                position: None,
                etag: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .steps[0]
        .id
        .clone();
    pathways
        .publish_pathway(bearer(
            &admin,
            pathway_pb::PublishPathwayRequest {
                id: pathway.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    suite.assign(&pathway.id).await;
    let listed = suite.wait_for(|p| !p.is_empty()).await;
    let ada = suite.learner("ada");
    let done = suite
        .complete(&ada, &listed[0].enrolment_id, &step)
        .await
        .unwrap();
    assert_eq!(done.status(), pb::ProgressStatus::Completed);

    let mut records = suite.records.clone();
    let mine = records
        .list_certifications(bearer(&ada, pb::ListCertificationsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .certifications;
    assert_eq!(mine.len(), 1);
    let cert = &mine[0];
    assert_eq!(
        (cert.cycle, cert.status()),
        (1, pb::CertificationStatus::CertActive)
    );
    assert_eq!(cert.pathway_title, "Forklift licence");
    let completed = cert.complete_time.unwrap().seconds;
    assert_eq!(cert.expire_time.unwrap().seconds, completed + 365 * 86_400);
    assert_eq!(cert.verification_code.len(), 16);

    // Anyone may verify a code, without a token; it shows only what the certificate shows.
    let mut verification = pb::certificate_verification_client::CertificateVerificationClient::new(
        suite.records_events_channel(),
    );
    let verified = verification
        .verify_certificate(pb::VerifyCertificateRequest {
            verification_code: cert.verification_code.to_lowercase(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.valid);
    assert_eq!(verified.learner, "ada");
    let unknown = verification
        .verify_certificate(pb::VerifyCertificateRequest {
            verification_code: "ZZZZZZZZZZZZZZZZ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // Revocation: admins only, with a reason; verification shows it.
    let refused = records
        .revoke_certification(bearer(
            &ada,
            pb::RevokeCertificationRequest {
                id: cert.id.clone(),
                reason: "no".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let no_reason = records
        .revoke_certification(bearer(
            &admin,
            pb::RevokeCertificationRequest {
                id: cert.id.clone(),
                reason: " ".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    let revoked = records
        .revoke_certification(bearer(
            &admin,
            pb::RevokeCertificationRequest {
                id: cert.id.clone(),
                reason: "Licence obtained with a forged medical".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.status(), pb::CertificationStatus::CertRevoked);
    let verified = verification
        .verify_certificate(pb::VerifyCertificateRequest {
            verification_code: cert.verification_code.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!verified.valid);
    assert_eq!(verified.status(), pb::CertificationStatus::CertRevoked);
    assert_eq!(
        verified.revoke_reason,
        "Licence obtained with a forged medical"
    );
    let other = records
        .get_certification(bearer(
            &suite.learner("bob"),
            pb::GetCertificationRequest {
                id: cert.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);
}

async fn an_opened_recertification_window_starts_a_new_cycle(suite: Suite) {
    // Valid two days; the recertification window opens one day before expiry.
    let admin = suite.admin();
    let mut pathways = suite.pathways.clone();
    let pathway = pathways
        .create_pathway(bearer(
            &admin,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway_pb::Pathway {
                    title: "Daily safety check".into(),
                    outcome: pathway_pb::Outcome::Certification as i32,
                    certification: Some(pathway_pb::CertificationPolicy {
                        validity_days: 2,
                        recertification_window_days: 1,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let step = pathways
        .add_step(bearer(
            &admin,
            pathway_pb::AddStepRequest {
                pathway_id: pathway.id.clone(),
                step: Some(pathway_pb::Step {
                    title: "Checklist".into(),
                    required: true,
                    kind: Some(pathway_pb::step::Kind::Acknowledgement(
                        pathway_pb::AcknowledgementStep {
                            statement: "I checked the equipment.".into(),
                            policy_url: "https://acme.example/checklist".into(),
                        },
                    )),
                    ..Default::default()
                }),
                position: None,
                etag: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .steps[0]
        .id
        .clone();
    pathways
        .publish_pathway(bearer(
            &admin,
            pathway_pb::PublishPathwayRequest {
                id: pathway.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    suite.assign(&pathway.id).await;
    let first = suite.wait_for(|p| !p.is_empty()).await[0].clone();
    let ada = suite.learner("ada");
    suite
        .complete(&ada, &first.enrolment_id, &step)
        .await
        .unwrap();

    // Today the window is closed: the scheduler announces nothing.
    let today = chrono::Utc::now().naive_utc();
    assert_eq!(suite.records_app.announce_expiring(today).await.unwrap(), 0);
    // A day and a half later it is open: announced once, however many schedulers run.
    let later = today + chrono::Duration::hours(36);
    let (a, b) = tokio::join!(
        suite.records_app.announce_expiring(later),
        suite.records_app.announce_expiring(later)
    );
    assert_eq!(
        a.unwrap() + b.unwrap(),
        1,
        "one announcement across two schedulers"
    );
    assert_eq!(suite.records_app.announce_expiring(later).await.unwrap(), 0);
    // enrolment-service starts a new cycle, which reaches records-service: a fresh enrolment,
    // due when the certification expires.
    let listed = suite
        .wait_for(|p| p.iter().any(|e| e.enrolment_id != first.enrolment_id))
        .await;
    assert_eq!(
        listed.len(),
        1,
        "the completed cycle is closed, the new one is current: {listed:?}"
    );
    let next = &listed[0];
    assert_eq!(next.status(), pb::ProgressStatus::NotStarted);
    let certs = suite
        .records
        .clone()
        .list_certifications(bearer(&ada, pb::ListCertificationsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .certifications;
    assert_eq!(certs.len(), 1);
    assert_eq!(
        certs[0].status(),
        pb::CertificationStatus::CertActive,
        "on today's calendar"
    );
    assert_eq!(next.due_time, certs[0].expire_time);
    let enrolments = suite
        .enrolments
        .clone()
        .list_enrolments(bearer(
            &admin,
            enrolment_pb::ListEnrolmentsRequest {
                learner: "ada".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .enrolments;
    let closed = enrolments
        .iter()
        .find(|e| e.id == first.enrolment_id)
        .unwrap();
    assert_eq!(
        closed.withdrawal(),
        enrolment_pb::Withdrawal::Recertification
    );
    assert_eq!(enrolments.len(), 2, "announced once: one new cycle");

    // Completing the new cycle issues cycle 2 (today, before the window: from completion; the
    // extension from the previous expiry inside the window is covered by the domain tests).
    suite
        .complete(&ada, &next.enrolment_id, &step)
        .await
        .unwrap();
    let certs = suite
        .records
        .clone()
        .list_certifications(bearer(&ada, pb::ListCertificationsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .certifications;
    assert_eq!(certs.len(), 2, "each cycle is kept");
    let (newest, oldest) = (&certs[0], &certs[1]);
    assert_eq!(newest.cycle, 2);
    assert_eq!(
        newest.expire_time.unwrap().seconds,
        newest.complete_time.unwrap().seconds + 2 * 86_400
    );
    assert_eq!(oldest.cycle, 1);

    // Expiry: nothing has expired today. Three days on both cycles have; the first was renewed
    // by the second, so one expiry is announced — once, however often the scheduler runs.
    assert_eq!(suite.records_app.announce_expired(today).await.unwrap(), 0);
    let expired = today + chrono::Duration::days(3);
    assert_eq!(
        suite.records_app.announce_expired(expired).await.unwrap(),
        1
    );
    assert_eq!(
        suite.records_app.announce_expired(expired).await.unwrap(),
        0
    );
}

async fn admins_record_external_training_with_an_audit_trail(suite: Suite) {
    let admin = suite.admin();
    let mut records = suite.records.clone();
    let yesterday = chrono::Utc::now().timestamp() - 86_400;
    let record = pb::ManualRecord {
        learner: "ada".into(),
        title: "First aid (Red Cross)".into(),
        provider: "Red Cross".into(),
        complete_time: Some(prost_types::Timestamp {
            seconds: yesterday,
            nanos: 0,
        }),
        hours: 8.0,
        evidence_url: "https://files.acme.example/first-aid.pdf".into(),
        ..Default::default()
    };
    let create = |token: String, record: pb::ManualRecord, reason: &str| {
        let mut records = suite.records.clone();
        let reason = reason.to_string();
        async move {
            records
                .create_manual_record(bearer(
                    &token,
                    pb::CreateManualRecordRequest {
                        record: Some(record),
                        reason,
                        request_id: String::new(),
                    },
                ))
                .await
        }
    };
    let learner = create(suite.learner("ada"), record.clone(), "mine")
        .await
        .unwrap_err();
    assert_eq!(learner.code(), Code::PermissionDenied);
    let future = pb::ManualRecord {
        complete_time: Some(prost_types::Timestamp {
            seconds: yesterday + 3 * 86_400,
            nanos: 0,
        }),
        evidence_url: "not a url".into(),
        ..record.clone()
    };
    let bad = create(admin.clone(), future, "").await.unwrap_err();
    let mut fields = violated_fields(&bad);
    fields.sort();
    assert_eq!(
        fields,
        ["reason", "record.complete_time", "record.evidence_url"]
    );

    // Ada is not in the directory yet: nobody can have trained who does not exist.
    let unknown = create(
        admin.clone(),
        record.clone(),
        "certificate handed in by Ada",
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let none = records
        .list_manual_records(bearer(
            &admin,
            pb::ListManualRecordsRequest {
                learner: "ada".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(none.records.is_empty(), "nothing was written");
    suite
        .enrolments
        .clone()
        .create_person(bearer(
            &admin,
            enrolment_pb::CreatePersonRequest {
                person: Some(enrolment_pb::Person {
                    external_id: "ada".into(),
                    display_name: "Ada".into(),
                    email: "ada@acme.example".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap();
    let created = create(
        admin.clone(),
        record.clone(),
        "certificate handed in by Ada",
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(created.created_by, "admin@acme");
    let updated = records
        .update_manual_record(bearer(
            &admin,
            pb::UpdateManualRecordRequest {
                record: Some(pb::ManualRecord {
                    id: created.id.clone(),
                    hours: 7.5,
                    etag: created.etag.clone(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["hours".into()],
                }),
                reason: "the certificate says 7.5 hours".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.hours, updated.title.as_str()),
        (7.5, "First aid (Red Cross)")
    );
    let stale = records
        .update_manual_record(bearer(
            &admin,
            pb::UpdateManualRecordRequest {
                record: Some(pb::ManualRecord {
                    id: created.id.clone(),
                    hours: 6.0,
                    etag: created.etag.clone(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["hours".into()],
                }),
                reason: "again".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let mine = records
        .list_manual_records(bearer(
            &suite.learner("ada"),
            pb::ListManualRecordsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(mine.len(), 1);
    records
        .delete_manual_record(bearer(
            &admin,
            pb::DeleteManualRecordRequest {
                id: created.id.clone(),
                reason: "entered for the wrong person".into(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    let mine = records
        .list_manual_records(bearer(
            &suite.learner("ada"),
            pb::ListManualRecordsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(mine.is_empty(), "gone from the history");
    let audit = records
        .list_manual_record_audit(bearer(
            &admin,
            pb::ListManualRecordAuditRequest {
                id: created.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .changes;
    let trail: Vec<(&str, &str)> = audit
        .iter()
        .map(|c| (c.action.as_str(), c.reason.as_str()))
        .collect();
    assert_eq!(
        trail,
        [
            ("CREATED", "certificate handed in by Ada"),
            ("UPDATED", "the certificate says 7.5 hours"),
            ("DELETED", "entered for the wrong person"),
        ],
        "never lost from the audit"
    );
    assert!(audit.iter().all(|c| c.actor == "admin@acme"));
    assert!(audit[1].snapshot.contains("7.5"));
    let other_tenant = records
        .list_manual_record_audit(bearer(
            &suite.auth.admin("globex"),
            pb::ListManualRecordAuditRequest { id: created.id },
        ))
        .await
        .unwrap_err();
    assert_eq!(other_tenant.code(), Code::NotFound);

    // Records kept before the learner record made statements: with the statements gone and
    // no backfill cursor, records-service makes one for the record still there — not for the
    // deleted one.
    let kept = create(admin.clone(), record.clone(), "handed in again")
        .await
        .unwrap()
        .into_inner();
    forget_statements(&suite).await;
    assert_eq!(suite.records_app.backfill_statements().await.unwrap(), 1);
    let objects = stored_statements(&suite).await;
    let told: serde_json::Value = serde_json::from_str(&objects[0].document).unwrap();
    assert_eq!(
        told["object"]["id"],
        format!("urn:lms:manual-record:{}", kept.id)
    );
    assert_eq!(
        told["verb"]["id"],
        "http://adlnet.gov/expapi/verbs/completed"
    );
}

async fn events_sent_while_records_is_down_arrive_once(suite: Suite) {
    let (pathway, _, _) = suite.compliance_pathway().await;
    suite.stop_records().await;
    // While records-service is down: ten people join Sales, Sales is assigned the pathway.
    let admin = suite.admin();
    let mut enrolments = suite.enrolments.clone();
    for i in 0..10 {
        enrolments
            .create_person(bearer(
                &admin,
                enrolment_pb::CreatePersonRequest {
                    person: Some(enrolment_pb::Person {
                        external_id: format!("p{i:02}"),
                        display_name: format!("P{i}"),
                        email: format!("p{i}@acme.example"),
                        department: "Sales".into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap();
    }
    suite.assign(&pathway).await; // Ada too: eleven enrolments wait in enrolment-service's outbox.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    suite.start_records().await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let rows = loop {
        let rows = match suite.compliance(&admin, &pathway).await {
            Ok((rows, _)) => rows,
            Err(_) => Vec::new(),
        };
        if rows.len() >= 11 {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of 11 enrolments arrived",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut learners: Vec<String> = rows.iter().map(|r| r.learner.clone()).collect();
    learners.sort();
    learners.dedup();
    assert_eq!(
        (rows.len(), learners.len()),
        (11, 11),
        "nothing lost, nothing doubled"
    );
    // Each event was applied once: one processed-event row per enrolment created.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let applied = suite
        .suite
        .db(Component::Records)
        .read(|conn| {
            use diesel::prelude::*;
            diesel::sql_query("SELECT event_id FROM processed_events")
                .load::<EventId>(conn)
                .map_err(lms_platform::AppError::from)
        })
        .await
        .unwrap();
    assert_eq!(applied.len(), 11);

    // Scoped to a department, the report shows only its people (asked of enrolment-service).
    let mut records = suite.records.clone();
    let mut stream = records
        .stream_compliance_report(bearer(
            &admin,
            pb::ComplianceReportRequest {
                pathway_id: pathway.clone(),
                scope: Some(pb::compliance_report_request::Scope::Department(
                    "Sales".into(),
                )),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut sales = 0;
    while let Some(item) = stream.message().await.unwrap() {
        if let Some(pb::compliance_report_item::Item::Row(_)) = item.item {
            sales += 1;
        }
    }
    assert_eq!(sales, 11, "Ada and the ten are all in Sales");
    let mut stream = records
        .stream_compliance_report(bearer(
            &admin,
            pb::ComplianceReportRequest {
                pathway_id: pathway.clone(),
                scope: Some(pb::compliance_report_request::Scope::Department(
                    "Finance".into(),
                )),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut finance_rows = 0;
    let mut finance_totals = None;
    while let Some(item) = stream.message().await.unwrap() {
        match item.item {
            Some(pb::compliance_report_item::Item::Row(_)) => finance_rows += 1,
            Some(pb::compliance_report_item::Item::Totals(t)) => finance_totals = Some(t),
            None => {}
        }
    }
    assert_eq!((finance_rows, finance_totals.unwrap().learners), (0, 0));
    let unknown_audience = records
        .stream_compliance_report(bearer(
            &admin,
            pb::ComplianceReportRequest {
                pathway_id: pathway,
                scope: Some(pb::compliance_report_request::Scope::AudienceId(
                    "0190d5a0-0000-7000-8000-0000000000aa".into(),
                )),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown_audience.code(), Code::NotFound);
}

impl Suite {
    async fn remove_step(&self, pathway: &str, step: &str) {
        self.pathways
            .clone()
            .remove_step(bearer(
                &self.admin(),
                pathway_pb::RemoveStepRequest {
                    pathway_id: pathway.into(),
                    step_id: step.into(),
                    etag: String::new(),
                },
            ))
            .await
            .unwrap();
    }

    async fn publish(&self, pathway: &str) -> i32 {
        self.pathways
            .clone()
            .publish_pathway(bearer(
                &self.admin(),
                pathway_pb::PublishPathwayRequest {
                    id: pathway.into(),
                    etag: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .version
    }

    async fn move_to(
        &self,
        token: &str,
        request: pb::MoveToVersionRequest,
    ) -> Result<pb::MoveToVersionResponse, Status> {
        self.records
            .clone()
            .move_to_version(bearer(token, request))
            .await
            .map(|r| r.into_inner())
    }
}

async fn admins_move_in_flight_learners_to_a_newer_version(suite: Suite) {
    let (pathway, steps, _) = suite.compliance_pathway().await;
    suite.assign(&pathway).await;
    let enrolment = suite.wait_for(|p| !p.is_empty()).await[0]
        .enrolment_id
        .clone();
    let ada = suite.learner("ada");
    suite.complete(&ada, &enrolment, &steps[0]).await.unwrap();

    // Version 2 drops "Accept" and adds "Watch" at the end.
    suite.remove_step(&pathway, &steps[1]).await;
    let watch = suite
        .pathways
        .clone()
        .add_step(bearer(
            &suite.admin(),
            pathway_pb::AddStepRequest {
                pathway_id: pathway.clone(),
                step: Some(pathway_pb::Step {
                    title: "Watch".into(),
                    required: true,
                    kind: Some(pathway_pb::step::Kind::Content(pathway_pb::ContentStep {
                        cmi5: None,
                        url: "https://learn.example.com/video".into(),
                        media_type: pathway_pb::content_step::MediaType::Video as i32,
                    })),
                    ..Default::default()
                }),
                position: None,
                etag: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .steps
        .last()
        .unwrap()
        .id
        .clone();
    let version = suite.publish(&pathway).await;
    assert_eq!(version, 2);

    let admin = suite.admin();
    let request = |version: i32, reason: &str| pb::MoveToVersionRequest {
        pathway_id: pathway.clone(),
        version,
        enrolment_ids: Vec::new(),
        reason: reason.into(),
    };
    // Refused, and nothing moves: a learner, no reason, a version never published, an
    // enrolment of another pathway.
    let learner = suite
        .move_to(&ada, request(2, "policy v2"))
        .await
        .unwrap_err();
    assert_eq!(learner.code(), Code::PermissionDenied);
    let no_reason = suite.move_to(&admin, request(2, "")).await.unwrap_err();
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    let unknown = suite.move_to(&admin, request(7, "typo")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let (other, _, _) = suite.compliance_pathway().await;
    let foreign = suite
        .move_to(
            &admin,
            pb::MoveToVersionRequest {
                pathway_id: other,
                enrolment_ids: vec![enrolment.clone()],
                ..request(1, "wrong pathway")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&foreign), ["enrolment_ids"]);
    let unchanged = suite
        .records
        .clone()
        .get_progress(bearer(
            &ada,
            pb::GetProgressRequest {
                enrolment_id: enrolment.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.pathway_version, 1);

    let moved = suite
        .move_to(&admin, request(2, "policy v2"))
        .await
        .unwrap();
    assert_eq!(
        (moved.enrolment_ids, moved.completed),
        (vec![enrolment.clone()], 0)
    );
    let progress = suite
        .records
        .clone()
        .get_progress(bearer(
            &ada,
            pb::GetProgressRequest {
                enrolment_id: enrolment.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(progress.pathway_version, 2);
    let states: Vec<(String, pb::StepState)> = progress
        .steps
        .iter()
        .map(|s| (s.step_id.clone(), s.state()))
        .collect();
    assert_eq!(
        states,
        [
            (steps[0].clone(), pb::StepState::StepDone),
            (steps[2].clone(), pb::StepState::StepAvailable),
            (watch.clone(), pb::StepState::StepLocked),
        ],
        "the done step carried over by id"
    );
    assert_eq!(progress.percent, 33.33);
    assert_eq!(progress.status(), pb::ProgressStatus::InProgress);
    let again = suite
        .move_to(&admin, request(2, "policy v2"))
        .await
        .unwrap();
    assert!(
        again.enrolment_ids.is_empty(),
        "a repeated move changes nothing"
    );
    let log = suite
        .records
        .clone()
        .list_activities(bearer(
            &admin,
            pb::ListActivitiesRequest {
                enrolment_id: enrolment.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .activities;
    let last = log.last().unwrap();
    assert_eq!(last.kind(), pb::ActivityKind::PathwayVersionMoved);
    assert_eq!(last.note, "version 1 → 2: policy v2");

    // enrolment-service learns the new version from the event.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = suite
            .enrolments
            .clone()
            .get_enrolment(bearer(
                &admin,
                enrolment_pb::GetEnrolmentRequest {
                    id: enrolment.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        if e.pathway_version == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "EnrolmentVersionMoved never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Version 3 keeps only what Ada has done: the move completes her enrolment.
    suite.remove_step(&pathway, &steps[2]).await;
    suite.remove_step(&pathway, &watch).await;
    assert_eq!(suite.publish(&pathway).await, 3);
    let moved = suite
        .move_to(
            &admin,
            pb::MoveToVersionRequest {
                enrolment_ids: vec![enrolment.clone()],
                ..request(3, "shorter course")
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.completed, 1);
    let done = suite.wait_for(|p| !p.is_empty()).await;
    assert_eq!(done[0].status(), pb::ProgressStatus::Completed);
    assert_eq!(done[0].percent, 100.0);
    let later = suite.move_to(&admin, request(3, "again")).await.unwrap();
    assert!(later.enrolment_ids.is_empty(), "completed enrolments stay");
}

/// The issue's "done when", in one piece: assign → enrolments arrive → the learner completes
/// steps → passes the assessment → pathway completed → certification issued → clock advanced
/// into the recertification window → re-enrolled; records-service is down twice on the way
/// (while the assignment is made, and while the passing result is sent).
async fn the_whole_flow_loses_and_doubles_nothing_across_a_records_outage(suite: Suite) {
    let (pathway, steps, assessment) = suite
        .pathway_with_assessment(pathway_pb::Pathway {
            title: "Forklift licence".into(),
            outcome: pathway_pb::Outcome::Certification as i32,
            sequencing: pathway_pb::Sequencing::Sequential as i32,
            certification: Some(pathway_pb::CertificationPolicy {
                validity_days: 2,
                recertification_window_days: 1,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let admin = suite.admin();
    let ada = suite.learner("ada");

    // Outage 1: the assignment is made while records-service is down.
    suite.stop_records().await;
    suite.assign(&pathway).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    suite.start_records().await;
    let enrolment = suite.wait_for(|p| !p.is_empty()).await[0]
        .enrolment_id
        .clone();
    suite.complete(&ada, &enrolment, &steps[0]).await.unwrap();
    suite.complete(&ada, &enrolment, &steps[1]).await.unwrap();

    // Outage 2: Ada passes the final test while records-service is down. She starts it
    // before: records-service decides whether the step is hers to take now.
    let mut assessments = suite.assessments.clone();
    let attempt = assessments
        .start_attempt(bearer(
            &ada,
            assessment_pb::StartAttemptRequest {
                assessment_id: assessment,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    suite.stop_records().await;
    let graded = assessments
        .submit_attempt(bearer(
            &ada,
            assessment_pb::SubmitAttemptRequest {
                attempt_id: attempt.id,
                answers: vec![assessment_pb::QuestionAnswer {
                    question_id: attempt.questions[0].question_id.clone(),
                    answer: Some(assessment_pb::AnswerValue {
                        value: Some(assessment_pb::answer_value::Value::TrueFalse(true)),
                    }),
                }],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(graded.passed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    suite.start_records().await;
    let done = suite
        .wait_for(|p| {
            p.first()
                .is_some_and(|p| p.status() == pb::ProgressStatus::Completed)
        })
        .await;
    assert_eq!(done.len(), 1);
    let certificates = suite
        .records
        .clone()
        .list_certifications(bearer(&ada, pb::ListCertificationsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .certifications;
    assert_eq!(certificates.len(), 1, "one certification");
    assert_eq!(
        certificates[0].status(),
        pb::CertificationStatus::CertActive
    );

    // The clock moves into the recertification window: a new cycle, once.
    let later = chrono::Utc::now().naive_utc() + chrono::Duration::hours(36);
    assert_eq!(suite.records_app.announce_expiring(later).await.unwrap(), 1);
    let next = suite
        .wait_for(|p| p.iter().any(|e| e.enrolment_id != enrolment))
        .await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].status(), pb::ProgressStatus::NotStarted);
    assert_eq!(next[0].due_time, certificates[0].expire_time);

    // Nothing lost, nothing doubled: Ada's log holds each real event once; enrolment-service
    // has the closed cycle and the new one; one certificate.
    let log = suite
        .records
        .clone()
        .list_activities(bearer(
            &admin,
            pb::ListActivitiesRequest {
                enrolment_id: enrolment.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .activities;
    let kinds: Vec<(pb::ActivitySource, pb::ActivityKind)> =
        log.iter().map(|a| (a.source(), a.kind())).collect();
    assert_eq!(
        kinds,
        [
            (pb::ActivitySource::Learner, pb::ActivityKind::StepCompleted),
            (pb::ActivitySource::Learner, pb::ActivityKind::StepCompleted),
            (
                pb::ActivitySource::AssessmentOutcome,
                pb::ActivityKind::StepCompleted
            ),
        ]
    );
    let cycles = suite
        .enrolments
        .clone()
        .list_enrolments(bearer(
            &admin,
            enrolment_pb::ListEnrolmentsRequest {
                learner: "ada".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .enrolments;
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    assert!(cycles.iter().any(|e| e.id == enrolment
        && e.withdrawal() == enrolment_pb::Withdrawal::Recertification
        && e.start_time.is_some()));
    let certificates = suite
        .records
        .clone()
        .list_certifications(bearer(&ada, pb::ListCertificationsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .certifications;
    assert_eq!(certificates.len(), 1);
    let (rows, totals) = suite.compliance(&admin, &pathway).await.unwrap();
    assert_eq!(rows.len(), 1, "the report shows the current cycle once");
    assert_eq!(totals.learners, 1);

    // Records kept before the learner record made statements: with the statements gone (as
    // before that release) and no backfill cursor, records-service makes each again, under
    // the same id; made again, it makes none.
    let statements = || async {
        stored_statements(&suite)
            .await
            .into_iter()
            .map(|row| (row.id, row.document))
            .collect::<Vec<_>>()
    };
    let told = statements().await;
    assert_eq!(
        told.len(),
        4,
        "three completions and a certificate: {told:?}"
    );
    forget_statements(&suite).await;
    assert_eq!(suite.records_app.backfill_statements().await.unwrap(), 4);
    let made = statements().await;
    let ids = |rows: &[(String, String)]| rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&made), ids(&told));
    for ((_, before), (_, after)) in told.iter().zip(&made) {
        // What is told is the same (when it was stored, and so `stored`, is not).
        let told = |text: &str| {
            let s: serde_json::Value = serde_json::from_str(text).unwrap();
            [
                &s["actor"],
                &s["verb"],
                &s["object"],
                &s["result"],
                &s["timestamp"],
            ]
            .map(Clone::clone)
        };
        assert_eq!(told(before), told(after));
    }
    assert_eq!(suite.records_app.backfill_statements().await.unwrap(), 0);
}

/// Forgets every statement and the backfill's cursor: a store from before the learner record
/// made statements.
async fn forget_statements(suite: &Suite) {
    suite
        .suite
        .db(Component::Records)
        .write(|conn| {
            use diesel::prelude::*;
            for table in ["xapi_statement_keys", "xapi_statements", "xapi_backfill"] {
                diesel::sql_query(format!("DELETE FROM {table}")).execute(conn)?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// The statements stored, by id.
async fn stored_statements(suite: &Suite) -> Vec<StatementRow> {
    suite
        .suite
        .db(Component::Records)
        .read(|conn| {
            use diesel::prelude::*;
            diesel::sql_query("SELECT id, document FROM xapi_statements ORDER BY id")
                .load::<StatementRow>(conn)
                .map_err(lms_platform::AppError::from)
        })
        .await
        .unwrap()
}

#[derive(diesel::QueryableByName)]
struct StatementRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    document: String,
}

#[derive(diesel::QueryableByName)]
struct EventId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[allow(dead_code)]
    event_id: String,
}
