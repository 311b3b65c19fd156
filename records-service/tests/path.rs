//! The learner's path tells the truth: records-service's progress is the one answer to "may
//! this learner do this now, and if not, why", and every service agrees with it. Each test
//! reproduces a defect found by trying the suite as a new user would, on SQLite and PostgreSQL.

mod support;

use std::time::{Duration, Instant};

use chrono::Datelike;

use support::*;

lms_test_support::on_both_databases!(Suite;
    a_locked_assessment_cannot_be_started_or_passed_out_of_order,
    a_used_up_assessment_is_blocked_with_its_reason_not_offered,
    a_suspended_enrolment_blocks_every_open_step,
    steps_others_complete_wait_for_them_and_are_not_offered,
    external_evidence_is_submitted_reviewed_and_resubmitted,
    a_certified_learner_stays_compliant_through_recertification,
    a_calendar_anchored_certification_expires_on_its_day,
    training_done_elsewhere_is_in_the_transcript_and_its_csv,
    unknown_references_are_not_found_and_change_nothing,
    an_open_pathway_says_it_may_be_joined_and_the_catalogue_lists_only_those,
    a_due_policy_change_is_previewed_and_applied_to_existing_enrolments_on_request,
    an_audience_preview_shows_the_enrolments_it_would_create_and_end,
    every_kind_of_step_certify_and_recertify_over_grpc,
    concurrent_step_checks_cache_a_new_version_once,
);

/// The compliance pathway (sequential: Read, Accept, Final test) assigned to Ada: her
/// enrolment, the steps and the assessment.
async fn ada_on_compliance_pathway(suite: &Suite) -> (String, String, Vec<String>, String) {
    let (pathway, steps, assessment) = suite.compliance_pathway().await;
    suite.assign(&pathway).await;
    let enrolment = suite.wait_for(|p| !p.is_empty()).await[0]
        .enrolment_id
        .clone();
    (pathway, enrolment, steps, assessment)
}

impl Suite {
    async fn progress(&self, token: &str, enrolment: &str) -> pb::Progress {
        self.records
            .clone()
            .get_progress(bearer(
                token,
                pb::GetProgressRequest {
                    enrolment_id: enrolment.into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// Progress, waiting (up to 20 s) until `ready` holds: outcomes travel through outboxes.
    async fn progress_when(
        &self,
        enrolment: &str,
        ready: impl Fn(&pb::Progress) -> bool,
    ) -> pb::Progress {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let progress = self.progress(&self.admin(), enrolment).await;
            if ready(&progress) {
                return progress;
            }
            assert!(Instant::now() < deadline, "never came: {progress:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn start_attempt(
        &self,
        token: &str,
        assessment: &str,
    ) -> Result<assessment_pb::Attempt, Status> {
        self.assessments
            .clone()
            .start_attempt(bearer(
                token,
                assessment_pb::StartAttemptRequest {
                    assessment_id: assessment.into(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// Answers the compliance pathway's one true/false question (true is right).
    async fn answer(
        &self,
        token: &str,
        attempt: assessment_pb::Attempt,
        value: bool,
    ) -> assessment_pb::Attempt {
        self.assessments
            .clone()
            .submit_attempt(bearer(
                token,
                assessment_pb::SubmitAttemptRequest {
                    attempt_id: attempt.id,
                    answers: vec![assessment_pb::QuestionAnswer {
                        question_id: attempt.questions[0].question_id.clone(),
                        answer: Some(assessment_pb::AnswerValue {
                            value: Some(assessment_pb::answer_value::Value::TrueFalse(value)),
                        }),
                    }],
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }
}

fn step<'a>(progress: &'a pb::Progress, id: &str) -> &'a pb::StepProgress {
    progress.steps.iter().find(|s| s.step_id == id).unwrap()
}

async fn a_locked_assessment_cannot_be_started_or_passed_out_of_order(suite: Suite) {
    let (pathway, enrolment, steps, assessment) = ada_on_compliance_pathway(&suite).await;
    let ada = suite.learner("ada");

    // Progress says the final test is locked, naming the steps by their titles.
    let before = suite.progress(&ada, &enrolment).await;
    let quiz = step(&before, &steps[2]);
    assert_eq!(quiz.state(), pb::StepState::StepLocked);
    assert_eq!(quiz.reason(), pb::StepReason::CompleteEarlierSteps);
    assert_eq!(quiz.unlocked_by, [steps[0].clone(), steps[1].clone()]);
    assert_eq!(quiz.reason_text, "Complete “Read” and “Accept” first.");

    // assessment-service agrees: no attempt starts on a locked step.
    let refused = suite.start_attempt(&ada, &assessment).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(
        refused.message(),
        "“Final test” cannot be taken now: Complete “Read” and “Accept” first."
    );
    // So does RecordActivity, in the same words, without step ids.
    let locked = suite
        .complete(&ada, &enrolment, &steps[1])
        .await
        .unwrap_err();
    assert_eq!(locked.code(), Code::FailedPrecondition);
    assert_eq!(
        locked.message(),
        "“Accept” cannot be taken now: Complete “Read” first."
    );
    assert!(!locked.message().contains(&steps[0]));

    // A passing outcome that reaches records-service for a locked step anyway (a race with an
    // attempt started elsewhere) is kept in the log but completes nothing.
    use prost::{Message, Name};
    let outcome = assessment_pb::AssessmentOutcome {
        attempt_id: "0190d5a0-0000-7000-8000-0000000000a1".into(),
        assessment_id: assessment.clone(),
        pathway_id: pathway.clone(),
        learner: "ada".into(),
        attempt_number: 1,
        score: 1.0,
        max_score: 1.0,
        passed: true,
        result_percent: 100.0,
        result_passed: true,
        ..Default::default()
    };
    let service = suite
        .auth
        .token("acme", "assessment-service", &[Role::Service]);
    let delivered = suite
        .records_events
        .clone()
        .deliver_events(bearer(
            &service,
            events_pb::DeliverEventsRequest {
                events: vec![events_pb::Event {
                    id: "0190d5a0-0000-7000-8000-0000000000e9".into(),
                    tenant_id: "acme".into(),
                    aggregate_id: outcome.attempt_id.clone(),
                    payload: Some(prost_types::Any {
                        type_url: assessment_pb::AssessmentOutcome::type_url(),
                        value: outcome.encode_to_vec(),
                    }),
                    occur_time: None,
                    traceparent: String::new(),
                }],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(delivered.acknowledged.len(), 1, "{delivered:?}");
    let after = suite.progress(&ada, &enrolment).await;
    assert_eq!(step(&after, &steps[2]).state(), pb::StepState::StepLocked);
    assert_eq!(after.percent, 0.0);
    let log = suite
        .records
        .clone()
        .list_activities(bearer(
            &ada,
            pb::ListActivitiesRequest {
                enrolment_id: enrolment.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .activities;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind(), pb::ActivityKind::StepStarted);
    assert!(
        log[0]
            .note
            .contains("not counted: Complete “Read” and “Accept” first."),
        "{}",
        log[0].note
    );

    // In order, the same assessment starts and its pass completes the pathway.
    suite.complete(&ada, &enrolment, &steps[0]).await.unwrap();
    suite.complete(&ada, &enrolment, &steps[1]).await.unwrap();
    let attempt = suite.start_attempt(&ada, &assessment).await.unwrap();
    assert!(suite.answer(&ada, attempt, true).await.passed);
    let done = suite
        .progress_when(&enrolment, |p| p.status() == pb::ProgressStatus::Completed)
        .await;
    assert_eq!(step(&done, &steps[2]).state(), pb::StepState::StepDone);
}

async fn a_used_up_assessment_is_blocked_with_its_reason_not_offered(suite: Suite) {
    let (_, enrolment, steps, assessment) = ada_on_compliance_pathway(&suite).await;
    suite
        .assessments
        .clone()
        .update_assessment(bearer(
            &suite.admin(),
            assessment_pb::UpdateAssessmentRequest {
                assessment: Some(assessment_pb::Assessment {
                    id: assessment.clone(),
                    max_attempts: 1,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["max_attempts".into()],
                }),
            },
        ))
        .await
        .unwrap();
    let ada = suite.learner("ada");
    suite.complete(&ada, &enrolment, &steps[0]).await.unwrap();
    suite.complete(&ada, &enrolment, &steps[1]).await.unwrap();
    let open = suite.progress(&ada, &enrolment).await;
    assert_eq!(open.next_step_ids, [steps[2].clone()]);

    let attempt = suite.start_attempt(&ada, &assessment).await.unwrap();
    assert!(!suite.answer(&ada, attempt, false).await.passed);
    let blocked = suite
        .progress_when(&enrolment, |p| {
            step(p, &steps[2]).state() != pb::StepState::StepAvailable
        })
        .await;
    let quiz = step(&blocked, &steps[2]);
    assert_eq!(quiz.state(), pb::StepState::StepBlocked);
    assert_eq!(quiz.reason(), pb::StepReason::AttemptsUsed);
    assert_eq!(
        quiz.reason_text,
        "Your only attempt is used and did not pass. An administrator can allow another."
    );
    assert!(
        blocked.next_step_ids.is_empty(),
        "a dead end is not offered"
    );
    let refused = suite.start_attempt(&ada, &assessment).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(refused.message(), "all 1 attempts are used");

    // An administrator allows another attempt: assessment-service, which counts attempts,
    // lets it start, and a pass completes the step.
    suite
        .assessments
        .clone()
        .update_assessment(bearer(
            &suite.admin(),
            assessment_pb::UpdateAssessmentRequest {
                assessment: Some(assessment_pb::Assessment {
                    id: assessment.clone(),
                    max_attempts: 2,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["max_attempts".into()],
                }),
            },
        ))
        .await
        .unwrap();
    let second = suite.start_attempt(&ada, &assessment).await.unwrap();
    assert!(suite.answer(&ada, second, true).await.passed);
    let done = suite
        .progress_when(&enrolment, |p| p.status() == pb::ProgressStatus::Completed)
        .await;
    assert_eq!(step(&done, &steps[2]).state(), pb::StepState::StepDone);
}

async fn a_suspended_enrolment_blocks_every_open_step(suite: Suite) {
    let (_, enrolment, steps, assessment) = ada_on_compliance_pathway(&suite).await;
    let ada = suite.learner("ada");
    suite.complete(&ada, &enrolment, &steps[0]).await.unwrap();
    // Ada moves to another department: the assignment's audience no longer holds her, and a
    // SUSPEND leave policy puts her enrolment on hold.
    let mut enrolments = suite.enrolments.clone();
    let assignment = enrolments
        .list_assignments(bearer(
            &suite.admin(),
            enrolment_pb::ListAssignmentsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .assignments
        .remove(0);
    enrolments
        .update_assignment(bearer(
            &suite.admin(),
            enrolment_pb::UpdateAssignmentRequest {
                assignment: Some(enrolment_pb::Assignment {
                    leave_policy: enrolment_pb::LeavePolicy::Suspend as i32,
                    etag: assignment.etag.clone(),
                    ..assignment
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["leave_policy".into()],
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let person = enrolments
        .list_people(bearer(
            &suite.admin(),
            enrolment_pb::ListPeopleRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .people
        .remove(0);
    enrolments
        .update_person(bearer(
            &suite.admin(),
            enrolment_pb::UpdatePersonRequest {
                person: Some(enrolment_pb::Person {
                    department: "Marketing".into(),
                    ..person
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["department".into()],
                }),
            },
        ))
        .await
        .unwrap();
    let held = suite.progress_when(&enrolment, |p| !p.active).await;
    assert!(held.next_step_ids.is_empty());
    assert_eq!(step(&held, &steps[0]).state(), pb::StepState::StepDone);
    for open in [&steps[1], &steps[2]] {
        let s = step(&held, open);
        assert_eq!(s.state(), pb::StepState::StepBlocked, "{s:?}");
        assert_eq!(s.reason(), pb::StepReason::EnrolmentOnHold);
        assert_eq!(
            s.reason_text,
            "Your enrolment is on hold; nothing can be done on it until it is resumed."
        );
    }
    let refused = suite.start_attempt(&ada, &assessment).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
}

/// A free-order pathway of a training session and an external step, assigned to Ada.
async fn ada_on_practical_pathway(suite: &Suite) -> (String, Vec<String>) {
    let admin = suite.admin();
    let mut pathways = suite.pathways.clone();
    let pathway = pathways
        .create_pathway(bearer(
            &admin,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway_pb::Pathway {
                    title: "Forklift licence".into(),
                    outcome: pathway_pb::Outcome::Training as i32,
                    sequencing: pathway_pb::Sequencing::Free as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let start = chrono::Utc::now().timestamp() + 86_400;
    let kinds = [
        (
            "Practical session",
            pathway_pb::step::Kind::TrainingSession(pathway_pb::TrainingSessionStep {
                start_time: Some(prost_types::Timestamp {
                    seconds: start,
                    nanos: 0,
                }),
                end_time: Some(prost_types::Timestamp {
                    seconds: start + 3600,
                    nanos: 0,
                }),
                location: "Warehouse 2".into(),
                capacity: 8,
                ..Default::default()
            }),
        ),
        (
            "Medical certificate",
            pathway_pb::step::Kind::External(pathway_pb::ExternalStep {
                instructions: "Upload your occupational health certificate.".into(),
            }),
        ),
    ];
    let mut ids = Vec::new();
    for (title, kind) in kinds {
        let updated = pathways
            .add_step(bearer(
                &admin,
                pathway_pb::AddStepRequest {
                    pathway_id: pathway.id.clone(),
                    step: Some(pathway_pb::Step {
                        title: title.into(),
                        required: true,
                        kind: Some(kind),
                        ..Default::default()
                    }),
                    position: None,
                    etag: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        ids.push(updated.steps.last().unwrap().id.clone());
    }
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
    let enrolment = suite.wait_for(|p| !p.is_empty()).await[0]
        .enrolment_id
        .clone();
    (enrolment, ids)
}

async fn steps_others_complete_wait_for_them_and_are_not_offered(suite: Suite) {
    let (enrolment, steps) = ada_on_practical_pathway(&suite).await;
    let ada = suite.learner("ada");
    let fresh = suite.progress(&ada, &enrolment).await;
    // Unbooked, the training step is Ada's to act on: she books a session.
    let session = step(&fresh, &steps[0]);
    assert_eq!(session.state(), pb::StepState::StepAvailable);
    assert_eq!(session.reason(), pb::StepReason::BookASession);
    assert_eq!(
        session.reason_text,
        "Book one of the step's training sessions."
    );
    assert_eq!(fresh.next_step_ids, [steps[0].clone(), steps[1].clone()]);
    let not_hers = suite
        .complete(&ada, &enrolment, &steps[0])
        .await
        .unwrap_err();
    assert_eq!(not_hers.code(), Code::PermissionDenied);
    // Booked, it waits for the instructor; only what Ada can do herself is offered.
    let pathway = fresh.pathway_id.clone();
    let later = suite
        .schedule(&pathway, &steps[0], 86_400, 8, &["ivan"])
        .await
        .unwrap();
    suite.book(&ada, &later.id, &enrolment).await.unwrap();
    let booked = suite.progress(&ada, &enrolment).await;
    let session = step(&booked, &steps[0]);
    assert_eq!(session.state(), pb::StepState::StepWaiting);
    assert_eq!(session.reason(), pb::StepReason::AttendanceByInstructor);
    assert_eq!(
        session.reason_text,
        "Attend the training session; an instructor records your attendance."
    );
    assert_eq!(booked.next_step_ids, [steps[1].clone()]);
    // Attendance is marked on the session, not recorded on the step (it was accepted days
    // before the session started).
    let instructor = suite.auth.token("acme", "ivan", &[Role::Instructor]);
    let early = suite
        .complete(&instructor, &enrolment, &steps[0])
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition, "{early:?}");
    let before_start = suite
        .mark(
            &instructor,
            &later.id,
            "ada",
            pb::AttendanceStatus::Attended,
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(
        before_start.code(),
        Code::FailedPrecondition,
        "{before_start:?}"
    );
    assert_eq!(
        step(&suite.progress(&ada, &enrolment).await, &steps[0]).state(),
        pb::StepState::StepWaiting
    );
}

impl Suite {
    async fn submit_evidence(
        &self,
        token: &str,
        enrolment: &str,
        step: &str,
        description: &str,
    ) -> Result<pb::Evidence, Status> {
        self.records
            .clone()
            .submit_evidence(bearer(
                token,
                pb::SubmitEvidenceRequest {
                    enrolment_id: enrolment.into(),
                    step_id: step.into(),
                    description: description.into(),
                    url: "https://files.acme.example/ada/medical.pdf".into(),
                    file_reference: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn decide(
        &self,
        token: &str,
        id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<pb::Evidence, Status> {
        let request = bearer(
            token,
            pb::DecideEvidenceRequest {
                id: id.into(),
                reason: reason.into(),
            },
        );
        let mut records = self.records.clone();
        let answer = if approve {
            records.approve_evidence(request).await
        } else {
            records.reject_evidence(request).await
        };
        answer.map(|r| r.into_inner())
    }

    async fn evidence_queue(&self, token: &str) -> Result<Vec<pb::Evidence>, Status> {
        self.records
            .clone()
            .list_evidence(bearer(
                token,
                pb::ListEvidenceRequest {
                    status: pb::EvidenceStatus::EvidencePending as i32,
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().evidence)
    }
}

async fn external_evidence_is_submitted_reviewed_and_resubmitted(suite: Suite) {
    let (enrolment, steps) = ada_on_practical_pathway(&suite).await;
    let ada = suite.learner("ada");
    let reviewer = suite.auth.token("acme", "ivan", &[Role::Instructor]);
    let external = &steps[1];

    // Bad input changes nothing: no evidence at all, a step that takes none.
    let empty = suite
        .records
        .clone()
        .submit_evidence(bearer(
            &ada,
            pb::SubmitEvidenceRequest {
                enrolment_id: enrolment.clone(),
                step_id: external.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&empty), ["description"]);
    let wrong_kind = suite
        .submit_evidence(&ada, &enrolment, &steps[0], "I was there")
        .await
        .unwrap_err();
    assert_eq!(wrong_kind.code(), Code::FailedPrecondition);
    assert!(suite.evidence_queue(&reviewer).await.unwrap().is_empty());

    // Ada submits; the step waits for a reviewer and is no longer offered.
    let submitted = suite
        .submit_evidence(&ada, &enrolment, external, "Certificate from Dr. Lee, 2026")
        .await
        .unwrap();
    assert_eq!(submitted.status(), pb::EvidenceStatus::EvidencePending);
    assert_eq!(submitted.step_title, "Medical certificate");
    let waiting = suite.progress(&ada, &enrolment).await;
    assert_eq!(step(&waiting, external).state(), pb::StepState::StepWaiting);
    assert_eq!(
        step(&waiting, external).reason(),
        pb::StepReason::EvidenceAwaitingApproval
    );
    // Only the training step's booking is left for Ada to do.
    assert_eq!(waiting.next_step_ids, [steps[0].clone()]);
    let twice = suite
        .submit_evidence(&ada, &enrolment, external, "again")
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);

    // The queue: reviewers see it; a learner sees only their own; nobody else's tenant does.
    let queue = suite.evidence_queue(&reviewer).await.unwrap();
    assert_eq!(
        queue.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [submitted.id.as_str()]
    );
    let bob = suite.learner("bob");
    assert!(suite.evidence_queue(&bob).await.unwrap().is_empty());
    let self_approval = suite
        .decide(&ada, &submitted.id, true, "")
        .await
        .unwrap_err();
    assert_eq!(self_approval.code(), Code::PermissionDenied);
    let elsewhere = suite.auth.token("globex", "ivan", &[Role::Instructor]);
    let foreign = suite
        .decide(&elsewhere, &submitted.id, true, "")
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);

    // Rejected with a reason: Ada reads it and may submit again.
    let no_reason = suite
        .decide(&reviewer, &submitted.id, false, "")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    let rejected = suite
        .decide(
            &reviewer,
            &submitted.id,
            false,
            "The certificate is unsigned.",
        )
        .await
        .unwrap();
    assert_eq!(rejected.status(), pb::EvidenceStatus::EvidenceRejected);
    assert_eq!(rejected.reviewer, "ivan");
    let again = suite.progress(&ada, &enrolment).await;
    let s = step(&again, external);
    assert_eq!(
        (s.state(), s.reason()),
        (
            pb::StepState::StepAvailable,
            pb::StepReason::ResubmitEvidence
        )
    );
    assert_eq!(
        s.reason_text,
        "Your evidence was not accepted: The certificate is unsigned. You may submit it again."
    );
    let decided_twice = suite
        .decide(&reviewer, &submitted.id, true, "")
        .await
        .unwrap_err();
    assert_eq!(decided_twice.code(), Code::FailedPrecondition);

    // Resubmitted and approved: the step is done, with the evidence in the log.
    let second = suite
        .submit_evidence(&ada, &enrolment, external, "Signed certificate")
        .await
        .unwrap();
    let approved = suite.decide(&reviewer, &second.id, true, "").await.unwrap();
    assert_eq!(approved.status(), pb::EvidenceStatus::EvidenceApproved);
    let done = suite.progress(&ada, &enrolment).await;
    assert_eq!(step(&done, external).state(), pb::StepState::StepDone);
    let mine = suite
        .records
        .clone()
        .list_evidence(bearer(&ada, pb::ListEvidenceRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .evidence;
    assert_eq!(mine.len(), 2, "both submissions stay on record");
}

/// A certification pathway of one acknowledgement step, valid 2 days, its recertification
/// window 1 day, with a grace period of 1 day; assigned to Ada, who completes it: her first
/// cycle. Returns (pathway, step, enrolment).
async fn ada_certified(suite: &Suite) -> (String, String, String) {
    ada_certified_under(
        suite,
        pathway_pb::CertificationPolicy {
            validity_days: 2,
            recertification_window_days: 1,
            grace_days: 1,
            ..Default::default()
        },
    )
    .await
}

async fn ada_certified_under(
    suite: &Suite,
    policy: pathway_pb::CertificationPolicy,
) -> (String, String, String) {
    let admin = suite.admin();
    let mut pathways = suite.pathways.clone();
    let pathway = pathways
        .create_pathway(bearer(
            &admin,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway_pb::Pathway {
                    title: "Working at height".into(),
                    outcome: pathway_pb::Outcome::Certification as i32,
                    certification: Some(policy),
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
                    title: "Harness check".into(),
                    required: true,
                    kind: Some(pathway_pb::step::Kind::Acknowledgement(
                        pathway_pb::AcknowledgementStep {
                            statement: "I checked my harness.".into(),
                            policy_url: "https://acme.example/harness".into(),
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
    let enrolment = suite.wait_for(|p| !p.is_empty()).await[0]
        .enrolment_id
        .clone();
    suite
        .complete(&suite.learner("ada"), &enrolment, &step)
        .await
        .unwrap();
    (pathway.id, step, enrolment)
}

impl Suite {
    async fn certifications(&self) -> Vec<pb::Certification> {
        self.records
            .clone()
            .list_certifications(bearer(
                &self.learner("ada"),
                pb::ListCertificationsRequest::default(),
            ))
            .await
            .unwrap()
            .into_inner()
            .certifications
    }

    /// Moves the clock: cycle 1 now expires at `expires_at` (completion and issue moved with
    /// it), as if the days between had passed.
    async fn cycle_one_expires_at(&self, expires_at: chrono::NaiveDateTime) {
        use diesel::prelude::*;
        use records_service::storage::schema::certifications as c;
        self.suite
            .db(Component::Records)
            .write(move |conn| {
                let issued = expires_at - chrono::Duration::days(2);
                diesel::update(c::table.filter(c::cycle.eq(1)))
                    .set((
                        c::expires_at.eq(Some(expires_at)),
                        c::completed_at.eq(issued),
                        c::issued_at.eq(issued),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Ada's compliance row on `pathway`.
    async fn ada_compliance(&self, pathway: &str) -> pb::ComplianceRow {
        let (rows, _) = self.compliance(&self.admin(), pathway).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        rows.into_iter().next().unwrap()
    }
}

fn seconds(at: chrono::NaiveDateTime) -> i64 {
    at.and_utc().timestamp()
}

async fn a_certified_learner_stays_compliant_through_recertification(suite: Suite) {
    let (pathway, step, first) = ada_certified(&suite).await;
    let now = chrono::Utc::now().naive_utc();

    // A day and a half later the window is open: the scheduler starts a new cycle and the
    // enrolment that earned the certificate is closed.
    let expiry = now + chrono::Duration::hours(12);
    suite.cycle_one_expires_at(expiry).await;
    assert_eq!(suite.records_app.announce_expiring(now).await.unwrap(), 1);
    let next = suite
        .wait_for(|p| p.len() == 1 && p[0].enrolment_id != first)
        .await
        .remove(0);
    assert_eq!(next.status(), pb::ProgressStatus::NotStarted);
    // Ada still holds a valid certificate: compliant, and the report says it is expiring.
    let row = suite.ada_compliance(&pathway).await;
    assert_eq!(
        row.state(),
        pb::ComplianceState::ComplianceCompliant,
        "{row:?}"
    );
    assert_eq!(
        row.certification_status(),
        pb::CertificationStatus::CertExpiring
    );
    assert_eq!(
        row.certification_expire_time.unwrap().seconds,
        seconds(expiry)
    );

    // Expired twelve hours ago: inside the one-day grace period, still compliant.
    suite
        .cycle_one_expires_at(now - chrono::Duration::hours(12))
        .await;
    let row = suite.ada_compliance(&pathway).await;
    assert_eq!(
        row.state(),
        pb::ComplianceState::ComplianceCompliant,
        "{row:?}"
    );
    assert_eq!(
        row.certification_status(),
        pb::CertificationStatus::CertExpiring
    );
    let cert = &suite.certifications().await[0];
    assert_eq!(cert.status(), pb::CertificationStatus::CertExpiring);
    assert_eq!(
        cert.grace_end_time.unwrap().seconds,
        seconds(now + chrono::Duration::hours(12))
    );
    // Past the grace period: the new cycle decides, and it has not started.
    suite
        .cycle_one_expires_at(now - chrono::Duration::hours(36))
        .await;
    let row = suite.ada_compliance(&pathway).await;
    assert_eq!(
        row.state(),
        pb::ComplianceState::ComplianceNotStarted,
        "{row:?}"
    );

    // Back inside the window, Ada recertifies: the new expiry extends from the previous one
    // (end to end, through the real services), not from today.
    suite.cycle_one_expires_at(expiry).await;
    suite
        .complete(&suite.learner("ada"), &next.enrolment_id, &step)
        .await
        .unwrap();
    let certs = suite.certifications().await;
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0].cycle, 2);
    assert_eq!(
        certs[0].expire_time.unwrap().seconds,
        seconds(expiry) + 2 * 86_400,
        "previous expiry + validity"
    );
    let row = suite.ada_compliance(&pathway).await;
    assert_eq!(row.state(), pb::ComplianceState::ComplianceCompliant);
    assert_eq!(
        row.certification_status(),
        pb::CertificationStatus::CertActive
    );
}

async fn a_calendar_anchored_certification_expires_on_its_day(suite: Suite) {
    // Every 31 March; the window opens 30 days before.
    ada_certified_under(
        &suite,
        pathway_pb::CertificationPolicy {
            recertification_window_days: 30,
            expiry_month: 3,
            expiry_day: 31,
            ..Default::default()
        },
    )
    .await;
    let cert = &suite.certifications().await[0];
    let completed = chrono::DateTime::from_timestamp(cert.complete_time.unwrap().seconds, 0)
        .unwrap()
        .naive_utc();
    // The end of the first 31 March more than 30 days after completion.
    let earliest = completed + chrono::Duration::days(30);
    let expected = (earliest.date().year()..)
        .map(|year| {
            chrono::NaiveDate::from_ymd_opt(year, 4, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
        })
        .find(|end_of_31_march| *end_of_31_march > earliest)
        .unwrap();
    assert_eq!(cert.expire_time.unwrap().seconds, seconds(expected));
    assert_eq!(cert.status(), pb::CertificationStatus::CertActive);
}

async fn training_done_elsewhere_is_in_the_transcript_and_its_csv(suite: Suite) {
    let (_, enrolment, _, _) = ada_on_compliance_pathway(&suite).await;
    let yesterday = chrono::Utc::now().timestamp() - 86_400;
    let record = suite
        .records
        .clone()
        .create_manual_record(bearer(
            &suite.admin(),
            pb::CreateManualRecordRequest {
                record: Some(pb::ManualRecord {
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
                }),
                reason: "Paper certificate".into(),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let transcript = |outcome: pb::TranscriptOutcome| {
        let mut records = suite.records.clone();
        let ada = suite.learner("ada");
        async move {
            records
                .list_transcript(bearer(
                    &ada,
                    pb::ListTranscriptRequest {
                        outcome: outcome as i32,
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .entries
        }
    };
    // Newest first: today's enrolment, then yesterday's course elsewhere.
    let all = transcript(pb::TranscriptOutcome::Unspecified).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(
        (all[0].source(), all[0].enrolment_id.as_str()),
        (
            pb::TranscriptSource::TranscriptEnrolment,
            enrolment.as_str()
        )
    );
    assert_eq!(all[0].title, "Anti-bribery");
    let manual = &all[1];
    assert_eq!(
        manual.source(),
        pb::TranscriptSource::TranscriptManualRecord
    );
    assert_eq!(manual.manual_record_id, record.id);
    assert_eq!(
        (
            manual.title.as_str(),
            manual.provider.as_str(),
            manual.hours
        ),
        ("First aid (Red Cross)", "Red Cross", 8.0)
    );
    assert_eq!(manual.status(), pb::ProgressStatus::Completed);
    assert_eq!(manual.complete_time.unwrap().seconds, yesterday);
    let completed = transcript(pb::TranscriptOutcome::OnlyCompleted).await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].manual_record_id, record.id);

    // Paging walks both kinds.
    let first_page = suite
        .records
        .clone()
        .list_transcript(bearer(
            &suite.learner("ada"),
            pb::ListTranscriptRequest {
                page_size: 1,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let second_page = suite
        .records
        .clone()
        .list_transcript(bearer(
            &suite.learner("ada"),
            pb::ListTranscriptRequest {
                page_size: 1,
                page_token: first_page.next_page_token,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second_page.entries[0].manual_record_id, record.id);
    assert!(second_page.next_page_token.is_empty());

    // The CSV carries it too.
    let mut stream = suite
        .records
        .clone()
        .export_transcript(bearer(
            &suite.learner("ada"),
            pb::ListTranscriptRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        csv.extend(chunk.data);
    }
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("source,title,"), "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[2].starts_with("manual_record,First aid (Red Cross),"),
        "{csv}"
    );
    assert!(
        lines[2].ends_with(",Red Cross,8.00,https://files.acme.example/first-aid.pdf"),
        "{csv}"
    );
}

fn unknown_id() -> String {
    lms_platform::validate::new_id()
}

async fn unknown_references_are_not_found_and_change_nothing(suite: Suite) {
    let admin = suite.admin();
    let (pathway, steps, assessment) = suite.compliance_pathway().await;
    let mut assessments = suite.assessments.clone();
    let listed =
        |assessments: &mut assessment_pb::assessment_service_client::AssessmentServiceClient<
            Channel,
        >| {
            let mut assessments = assessments.clone();
            let admin = admin.clone();
            let pathway = pathway.clone();
            async move {
                assessments
                    .list_assessments(bearer(
                        &admin,
                        assessment_pb::ListAssessmentsRequest {
                            pathway_id: pathway,
                            ..Default::default()
                        },
                    ))
                    .await
                    .unwrap()
                    .into_inner()
                    .assessments
                    .len()
            }
        };
    let before = listed(&mut assessments).await;
    let existing = assessments
        .get_assessment(bearer(
            &admin,
            assessment_pb::GetAssessmentRequest {
                id: assessment.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let create = |pathway_id: String,
                  step_id: String,
                  add_step: Option<assessment_pb::NewAssessmentStep>| {
        let mut assessments = suite.assessments.clone();
        let admin = admin.clone();
        let questions = existing.questions.clone();
        async move {
            assessments
                .create_assessment(bearer(
                    &admin,
                    assessment_pb::CreateAssessmentRequest {
                        assessment: Some(assessment_pb::Assessment {
                            title: "Retake".into(),
                            pathway_id,
                            step_id,
                            questions,
                            pass_mark_percent: 100.0,
                            add_step,
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    // CreateAssessment: an unknown pathway, an unknown step, a step of another kind.
    let no_pathway = create(unknown_id(), String::new(), None).await.unwrap_err();
    assert_eq!(no_pathway.code(), Code::NotFound, "{no_pathway:?}");
    let no_step = create(pathway.clone(), unknown_id(), None)
        .await
        .unwrap_err();
    assert_eq!(no_step.code(), Code::NotFound, "{no_step:?}");
    let content = create(pathway.clone(), steps[0].clone(), None)
        .await
        .unwrap_err();
    assert_eq!(content.code(), Code::FailedPrecondition, "{content:?}");
    // UpdateAssessment to a step that does not link it.
    let relink = assessments
        .update_assessment(bearer(
            &admin,
            assessment_pb::UpdateAssessmentRequest {
                assessment: Some(assessment_pb::Assessment {
                    id: assessment.clone(),
                    step_id: unknown_id(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["step_id".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(relink.code(), Code::NotFound, "{relink:?}");
    // The grading queue of an assessment that does not exist.
    let queue = assessments
        .list_pending_grades(bearer(
            &admin,
            assessment_pb::ListPendingGradesRequest {
                assessment_id: unknown_id(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(queue.code(), Code::NotFound, "{queue:?}");
    // A compliance report on a pathway that does not exist.
    let report = suite.compliance(&admin, &unknown_id()).await.unwrap_err();
    assert_eq!(report.code(), Code::NotFound, "{report:?}");
    // A step pathway-service refuses (an unknown prerequisite): the assessment is not kept.
    let refused = create(
        pathway.clone(),
        String::new(),
        Some(assessment_pb::NewAssessmentStep {
            title: "Retake".into(),
            required: false,
            prerequisite_step_ids: vec![unknown_id()],
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(listed(&mut assessments).await, before, "nothing was kept");

    // One call creates the assessment and the step that links it, both sides checked.
    let linked = create(
        pathway.clone(),
        String::new(),
        Some(assessment_pb::NewAssessmentStep {
            title: "Retake".into(),
            required: false,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert!(!linked.step_id.is_empty());
    let draft = suite
        .pathways
        .clone()
        .get_pathway(bearer(
            &admin,
            pathway_pb::GetPathwayRequest {
                id: pathway.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let step = draft.steps.iter().find(|s| s.id == linked.step_id).unwrap();
    assert_eq!(step.title, "Retake");
    assert!(matches!(
        &step.kind,
        Some(pathway_pb::step::Kind::Assessment(a)) if a.assessment_id == linked.id
    ));
    assert_eq!(listed(&mut assessments).await, before + 1);
}

async fn an_open_pathway_says_it_may_be_joined_and_the_catalogue_lists_only_those(suite: Suite) {
    use lms_test_support::fixtures::{content_step, person, published_pathway};
    let admin = suite.admin();
    let mut enrolments = suite.enrolments.clone();
    let publish = |title: &str| {
        let channel = suite.suite.channel(Component::Pathway);
        let admin = admin.clone();
        let pathway = pathway_pb::Pathway {
            title: title.into(),
            outcome: pathway_pb::Outcome::Training as i32,
            ..Default::default()
        };
        async move {
            published_pathway(channel, &admin, pathway, vec![content_step("Watch")])
                .await
                .pathway_id
        }
    };
    let offered = publish("Excel basics").await;
    let elsewhere = publish("Forklift licence").await;
    let unoffered = publish("Board governance").await;
    for (id, department) in [("ada", "Sales"), ("bob", "Warehouse")] {
        enrolments
            .create_person(bearer(
                &admin,
                enrolment_pb::CreatePersonRequest {
                    person: Some(enrolment_pb::Person {
                        department: department.into(),
                        ..person(id)
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap();
    }
    for (department, pathway) in [("Sales", &offered), ("Warehouse", &elsewhere)] {
        let audience = enrolments
            .create_audience(bearer(
                &admin,
                enrolment_pb::CreateAudienceRequest {
                    audience: Some(enrolment_pb::Audience {
                        name: department.into(),
                        kind: enrolment_pb::AudienceKind::Dynamic as i32,
                        rule: format!(r#"department = "{department}""#),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        enrolments
            .create_assignment(bearer(
                &admin,
                enrolment_pb::CreateAssignmentRequest {
                    assignment: Some(enrolment_pb::Assignment {
                        pathway_id: pathway.clone(),
                        audience_id: audience.id,
                        requirement: enrolment_pb::Requirement::Open as i32,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap();
    }
    let ada = suite.learner("ada");
    let access = |pathway: String| {
        let mut enrolments = suite.enrolments.clone();
        let ada = ada.clone();
        async move {
            enrolments
                .check_access(bearer(
                    &ada,
                    enrolment_pb::CheckAccessRequest {
                        learner: String::new(),
                        pathway_id: pathway,
                    },
                ))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let joinable = |token: String, learner: &str| {
        let mut enrolments = suite.enrolments.clone();
        let learner = learner.to_string();
        async move {
            enrolments
                .list_joinable_pathways(bearer(
                    &token,
                    enrolment_pb::ListJoinablePathwaysRequest { learner },
                ))
                .await
                .map(|r| r.into_inner().pathways)
        }
    };

    // Offered to Ada: the answer says she may enrol herself; the others just say not enrolled.
    let open = access(offered.clone()).await;
    assert!(!open.allowed);
    assert_eq!(open.reason(), enrolment_pb::AccessReason::MaySelfEnrol);
    assert!(open.message.contains("SelfEnrol"), "{}", open.message);
    for other in [&elsewhere, &unoffered] {
        let closed = access(other.clone()).await;
        assert_eq!(closed.reason(), enrolment_pb::AccessReason::NotEnrolled);
    }
    // Her catalogue lists what she may join, and nothing else.
    let mine = joinable(ada.clone(), "").await.unwrap();
    assert_eq!(
        mine.iter()
            .map(|p| p.pathway_id.as_str())
            .collect::<Vec<_>>(),
        [offered.as_str()]
    );
    assert_eq!(mine[0].requirement(), enrolment_pb::Requirement::Open);
    let nosy = joinable(suite.learner("bob"), "ada").await.unwrap_err();
    assert_eq!(nosy.code(), Code::PermissionDenied);
    let staff = joinable(admin.clone(), "bob").await.unwrap();
    assert_eq!(staff[0].pathway_id, elsewhere);

    // Once she has joined, it leaves her catalogue and access says enrolled.
    enrolments
        .self_enrol(bearer(
            &ada,
            enrolment_pb::SelfEnrolRequest {
                pathway_id: offered.clone(),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap();
    assert!(joinable(ada.clone(), "").await.unwrap().is_empty());
    assert_eq!(
        access(offered).await.reason(),
        enrolment_pb::AccessReason::Enrolled
    );
}

impl Suite {
    async fn sales_assignment(&self) -> enrolment_pb::Assignment {
        self.enrolments
            .clone()
            .list_assignments(bearer(
                &self.admin(),
                enrolment_pb::ListAssignmentsRequest::default(),
            ))
            .await
            .unwrap()
            .into_inner()
            .assignments
            .remove(0)
    }

    async fn ada_enrolment(&self) -> enrolment_pb::Enrolment {
        self.enrolments
            .clone()
            .list_enrolments(bearer(
                &self.admin(),
                enrolment_pb::ListEnrolmentsRequest {
                    learner: "ada".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .enrolments
            .remove(0)
    }
}

fn days_after_assignment(days: i32) -> Option<enrolment_pb::DuePolicy> {
    Some(enrolment_pb::DuePolicy {
        policy: Some(enrolment_pb::due_policy::Policy::DaysAfterAssignment(days)),
    })
}

async fn a_due_policy_change_is_previewed_and_applied_to_existing_enrolments_on_request(
    suite: Suite,
) {
    let (_, enrolment, _, _) = ada_on_compliance_pathway(&suite).await;
    let admin = suite.admin();
    let assignment = suite.sales_assignment().await;
    let before = suite.ada_enrolment().await;
    let assigned = before.assign_time.unwrap().seconds;
    assert_eq!(before.due_time.unwrap().seconds, assigned + 30 * 86_400);
    let request = |days: i32, apply: bool, reason: &str| enrolment_pb::UpdateAssignmentRequest {
        assignment: Some(enrolment_pb::Assignment {
            id: assignment.id.clone(),
            due_policy: days_after_assignment(days),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["due_policy".into()],
        }),
        apply_to_existing: apply,
        reason: reason.into(),
    };
    let mut enrolments = suite.enrolments.clone();

    // The preview shows the move and changes nothing.
    let preview = enrolments
        .preview_assignment_update(bearer(&admin, request(60, true, "More time")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((preview.moved_count, preview.unchanged_count), (1, 0));
    let shown = &preview.moves[0];
    assert_eq!(shown.learner, "ada");
    assert_eq!(
        shown.previous_due_time.unwrap().seconds,
        assigned + 30 * 86_400
    );
    assert_eq!(shown.due_time.unwrap().seconds, assigned + 60 * 86_400);
    assert_eq!(suite.ada_enrolment().await.due_time, before.due_time);

    // Without the choice, existing due dates stay; asking for it needs a reason.
    enrolments
        .update_assignment(bearer(&admin, request(60, false, "")))
        .await
        .unwrap();
    assert_eq!(suite.ada_enrolment().await.due_time, before.due_time);
    let no_reason = enrolments
        .update_assignment(bearer(&admin, request(90, true, "")))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_reason), ["reason"]);

    // With it, Ada's due date moves, the change is kept with its reason, and her progress
    // (records-service) follows.
    enrolments
        .update_assignment(bearer(&admin, request(90, true, "Audit postponed")))
        .await
        .unwrap();
    let moved = suite.ada_enrolment().await;
    let due = assigned + 90 * 86_400;
    assert_eq!(moved.due_time.unwrap().seconds, due);
    let change = moved.due_changes.last().unwrap();
    assert_eq!(
        (change.reason.as_str(), change.actor.as_str()),
        ("Audit postponed", "admin@acme")
    );
    suite
        .progress_when(&enrolment, |p| p.due_time.is_some_and(|t| t.seconds == due))
        .await;
}

async fn an_audience_preview_shows_the_enrolments_it_would_create_and_end(suite: Suite) {
    ada_on_compliance_pathway(&suite).await;
    let admin = suite.admin();
    let mut enrolments = suite.enrolments.clone();
    enrolments
        .create_person(bearer(
            &admin,
            enrolment_pb::CreatePersonRequest {
                person: Some(enrolment_pb::Person {
                    department: "Marketing".into(),
                    ..lms_test_support::fixtures::person("bob")
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap();
    let assignment = suite.sales_assignment().await;
    let preview =
        |enrolments: &mut enrolment_pb::enrolment_service_client::EnrolmentServiceClient<
            Channel,
        >| {
            let mut enrolments = enrolments.clone();
            let admin = admin.clone();
            let audience_id = assignment.audience_id.clone();
            async move {
                enrolments
                    .preview_audience_rule(bearer(
                        &admin,
                        enrolment_pb::PreviewAudienceRuleRequest {
                            rule: r#"department = "Marketing""#.into(),
                            audience_id,
                            sample_size: 0,
                        },
                    ))
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
    // Bob would join and be enrolled; Ada would leave, and KEEP (the default) keeps hers.
    let keep = preview(&mut enrolments).await;
    assert_eq!((keep.join_count, keep.leave_count), (1, 1));
    assert_eq!(keep.enrolments_created_count, 1);
    assert_eq!(
        (
            keep.enrolments_created[0].learner.as_str(),
            keep.enrolments_created[0].assignment_id.as_str()
        ),
        ("bob", assignment.id.as_str())
    );
    assert_eq!(
        (
            keep.enrolments_withdrawn_count,
            keep.enrolments_suspended_count
        ),
        (0, 0)
    );
    // Under the other leave policies her enrolment would be withdrawn (not started) or
    // suspended.
    for (policy, withdrawn, suspended) in [
        (enrolment_pb::LeavePolicy::WithdrawIfNotStarted, 1, 0),
        (enrolment_pb::LeavePolicy::Suspend, 0, 1),
    ] {
        enrolments
            .update_assignment(bearer(
                &admin,
                enrolment_pb::UpdateAssignmentRequest {
                    assignment: Some(enrolment_pb::Assignment {
                        id: assignment.id.clone(),
                        leave_policy: policy as i32,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["leave_policy".into()],
                    }),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        let shown = preview(&mut enrolments).await;
        assert_eq!(
            (
                shown.enrolments_withdrawn_count,
                shown.enrolments_suspended_count
            ),
            (withdrawn, suspended),
            "{policy:?}"
        );
        let ended = shown
            .enrolments_withdrawn
            .iter()
            .chain(&shown.enrolments_suspended)
            .next()
            .unwrap();
        assert_eq!(ended.learner, "ada");
    }
    // Nothing changed: Ada is still enrolled and Bob is not.
    assert_eq!(
        suite.ada_enrolment().await.status(),
        enrolment_pb::EnrolmentStatus::EnrolmentActive
    );
}

/// The whole path over gRPC: an admin sets up a sequential certification pathway with every
/// kind of step (the assessment and its step in one call) and assigns it; Ada goes through
/// each step with the people each needs; she is certified; her recertification window opens
/// and she recertifies, her new certificate extending the old one.
async fn every_kind_of_step_certify_and_recertify_over_grpc(suite: Suite) {
    let admin = suite.admin();
    let ada = suite.learner("ada");
    let instructor = suite.auth.token("acme", "ivan", &[Role::Instructor]);
    let mut pathways = suite.pathways.clone();
    let pathway = pathways
        .create_pathway(bearer(
            &admin,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway_pb::Pathway {
                    title: "Crane operator".into(),
                    outcome: pathway_pb::Outcome::Certification as i32,
                    sequencing: pathway_pb::Sequencing::Sequential as i32,
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
        .into_inner()
        .id;
    let start = chrono::Utc::now().timestamp() + 3_600;
    let kinds = [
        (
            "Read the manual",
            pathway_pb::step::Kind::Content(pathway_pb::ContentStep {
                cmi5: None,
                url: "https://learn.example.com/crane".into(),
                media_type: pathway_pb::content_step::MediaType::Document as i32,
            }),
        ),
        (
            "Accept the rules",
            pathway_pb::step::Kind::Acknowledgement(pathway_pb::AcknowledgementStep {
                statement: "I follow the site rules.".into(),
                policy_url: "https://acme.example/rules".into(),
            }),
        ),
        (
            "Practical session",
            pathway_pb::step::Kind::TrainingSession(pathway_pb::TrainingSessionStep {
                start_time: Some(prost_types::Timestamp {
                    seconds: start,
                    nanos: 0,
                }),
                end_time: Some(prost_types::Timestamp {
                    seconds: start + 3_600,
                    nanos: 0,
                }),
                location: "Yard 1".into(),
                capacity: 6,
                instructor: "ivan".into(),
            }),
        ),
        (
            "Medical certificate",
            pathway_pb::step::Kind::External(pathway_pb::ExternalStep {
                instructions: "Upload your certificate.".into(),
            }),
        ),
    ];
    let mut steps = Vec::new();
    for (title, kind) in kinds {
        let updated = pathways
            .add_step(bearer(
                &admin,
                pathway_pb::AddStepRequest {
                    pathway_id: pathway.clone(),
                    step: Some(pathway_pb::Step {
                        title: title.into(),
                        required: true,
                        kind: Some(kind),
                        ..Default::default()
                    }),
                    position: None,
                    etag: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        steps.push(updated.steps.last().unwrap().id.clone());
    }
    // The assessment and its step in one call.
    let test = suite
        .true_false_assessment(
            &pathway,
            "Crane test",
            Some(assessment_pb::NewAssessmentStep {
                title: "Final test".into(),
                required: true,
                ..Default::default()
            }),
        )
        .await;
    steps.push(test.step_id.clone());
    pathways
        .publish_pathway(bearer(
            &admin,
            pathway_pb::PublishPathwayRequest {
                id: pathway.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    suite.assign(&pathway).await;
    let first = suite.wait_for(|p| !p.is_empty()).await[0]
        .enrolment_id
        .clone();

    // One cycle: every step, each with whoever it needs; the path always says what is next.
    let go_through = |enrolment: String| {
        let suite = &suite;
        let (ada, instructor, steps, test) = (&ada, &instructor, &steps, &test);
        async move {
            let fresh = suite.progress(ada, &enrolment).await;
            assert_eq!(fresh.next_step_ids, [steps[0].clone()]);
            suite.complete(ada, &enrolment, &steps[0]).await.unwrap();
            suite.complete(ada, &enrolment, &steps[1]).await.unwrap();
            let to_book = suite.progress(ada, &enrolment).await;
            let practical = step(&to_book, &steps[2]);
            assert_eq!(practical.state(), pb::StepState::StepAvailable);
            assert_eq!(practical.reason(), pb::StepReason::BookASession);
            assert_eq!(to_book.next_step_ids, [steps[2].clone()]);
            let attended = suite.attend("ivan", &enrolment, &steps[2]).await;
            assert_eq!(step(&attended, &steps[2]).state(), pb::StepState::StepDone);
            let evidence = suite
                .submit_evidence(ada, &enrolment, &steps[3], "Dr. Lee, fit to operate")
                .await
                .unwrap();
            suite
                .decide(instructor, &evidence.id, true, "")
                .await
                .unwrap();
            let open = suite.progress(ada, &enrolment).await;
            assert_eq!(open.next_step_ids, [steps[4].clone()]);
            let attempt = suite.start_attempt(ada, &test.id).await.unwrap();
            assert!(suite.answer(ada, attempt, true).await.passed);
            suite
                .progress_when(&enrolment, |p| p.status() == pb::ProgressStatus::Completed)
                .await
        }
    };
    let done = go_through(first.clone()).await;
    assert_eq!(done.percent, 100.0);
    let certs = suite.certifications().await;
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].status(), pb::CertificationStatus::CertActive);

    // A day and a half later: the window opens, a new cycle starts, Ada recertifies.
    let now = chrono::Utc::now().naive_utc();
    let expiry = now + chrono::Duration::hours(12);
    suite.cycle_one_expires_at(expiry).await;
    assert_eq!(suite.records_app.announce_expiring(now).await.unwrap(), 1);
    let second = suite
        .wait_for(|p| p.len() == 1 && p[0].enrolment_id != first)
        .await[0]
        .enrolment_id
        .clone();
    let row = suite.ada_compliance(&pathway).await;
    assert_eq!(row.state(), pb::ComplianceState::ComplianceCompliant);
    go_through(second).await;
    let certs = suite.certifications().await;
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0].cycle, 2);
    assert_eq!(
        certs[0].expire_time.unwrap().seconds,
        seconds(expiry) + 2 * 86_400
    );
}

/// Many services asking about steps of a version records-service has not cached yet: each
/// fetches and caches it, and concurrent caches of one version are one insert, not a conflict
/// (found by the PostgreSQL-outage fault test as ALREADY_EXISTS on StartAttempt).
async fn concurrent_step_checks_cache_a_new_version_once(suite: Suite) {
    let (pathway, steps, _) = suite.compliance_pathway().await;
    let service = suite
        .auth
        .token("acme", "assessment-service", &[Role::Service]);
    let mut checks = tokio::task::JoinSet::new();
    for n in 0..16 {
        let mut records = suite.records.clone();
        let request = pb::CheckStepRequest {
            enrolment_id: unknown_id(),
            step_id: steps[0].clone(),
            learner: format!("learner{n}"),
            pathway_id: pathway.clone(),
            pathway_version: 1,
            assessment_id: String::new(),
        };
        let service = service.clone();
        checks.spawn(async move { records.check_step(bearer(&service, request)).await });
    }
    while let Some(answer) = checks.join_next().await {
        let step = answer.unwrap().unwrap().into_inner();
        assert_eq!(step.state(), pb::StepState::StepAvailable);
    }
}
