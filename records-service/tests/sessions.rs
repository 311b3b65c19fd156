//! Instructor-led training: sessions of a training step, seats and waitlists, attendance and
//! its corrections, calendars. Each test drives the suite over gRPC as admins, instructors and
//! learners do, on SQLite and PostgreSQL.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use support::*;

lms_test_support::on_both_databases!(Suite;
    a_learner_books_attends_and_a_correction_reopens_the_step,
    a_full_session_waitlists_and_a_freed_seat_goes_to_the_first_waiting,
    concurrent_bookings_never_sell_more_seats_than_there_are,
    a_cancelled_session_sends_its_learners_back_to_booking,
    sessions_change_without_republishing_and_instructors_see_their_rosters,
    bad_bookings_are_refused_precisely_and_change_nothing,
    bad_sessions_and_marks_are_refused_precisely_and_change_nothing,
    calendars_import_into_an_independent_parser,
    a_calendar_feed_is_read_by_its_secret_alone,
    a_withdrawn_learner_gives_up_their_seat_to_the_first_waiting,
);

/// A published pathway of two steps: Read (content) and Practical (a training session taught
/// by ivan). Returns (pathway, read step, practical step).
async fn training_pathway(
    suite: &Suite,
    sequencing: pathway_pb::Sequencing,
) -> (String, String, String) {
    let admin = suite.admin();
    let mut pathways = suite.pathways.clone();
    let pathway = pathways
        .create_pathway(bearer(
            &admin,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway_pb::Pathway {
                    title: "Forklift safety".into(),
                    outcome: pathway_pb::Outcome::Training as i32,
                    sequencing: sequencing as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    // A training step needs no date: its sessions are scheduled separately.
    let kinds = [
        (
            "Read",
            pathway_pb::step::Kind::Content(pathway_pb::ContentStep {
                cmi5: None,
                url: "https://learn.example.com/forklift".into(),
                media_type: pathway_pb::content_step::MediaType::Document as i32,
            }),
        ),
        (
            "Practical",
            pathway_pb::step::Kind::TrainingSession(pathway_pb::TrainingSessionStep {
                instructor: "ivan".into(),
                ..Default::default()
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
    (pathway.id, ids[0].clone(), ids[1].clone())
}

impl Suite {
    /// Ada and `others` (all in Sales) enrolled on `pathway`: learner → enrolment id.
    async fn enrol(&self, pathway: &str, others: &[&str]) -> HashMap<String, String> {
        self.assign(pathway).await;
        for name in others {
            self.enrolments
                .clone()
                .create_person(bearer(
                    &self.admin(),
                    enrolment_pb::CreatePersonRequest {
                        person: Some(enrolment_pb::Person {
                            external_id: name.to_string(),
                            display_name: name.to_string(),
                            email: format!("{name}@acme.example"),
                            department: "Sales".into(),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    },
                ))
                .await
                .unwrap();
        }
        let mut enrolled = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        for name in std::iter::once(&"ada").chain(others) {
            loop {
                let listed = self.progress_of(name).await;
                if let Some(p) = listed.first() {
                    enrolled.insert(name.to_string(), p.enrolment_id.clone());
                    break;
                }
                assert!(Instant::now() < deadline, "{name} was never enrolled");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        enrolled
    }

    async fn progress_of(&self, learner: &str) -> Vec<pb::Progress> {
        self.records
            .clone()
            .list_progress(bearer(
                &self.learner(learner),
                pb::ListProgressRequest::default(),
            ))
            .await
            .unwrap()
            .into_inner()
            .progress
    }

    async fn step_of(&self, learner: &str, step: &str) -> pb::StepProgress {
        let progress = self.progress_of(learner).await;
        progress[0]
            .steps
            .iter()
            .find(|s| s.step_id == step)
            .unwrap()
            .clone()
    }

    /// The sessions `token`'s learner can book now.
    async fn bookable(&self, token: &str) -> Vec<pb::Session> {
        self.sessions()
            .list_sessions(bearer(
                token,
                pb::ListSessionsRequest {
                    bookable: true,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .sessions
    }

    async fn session(&self, id: &str) -> pb::Session {
        self.sessions()
            .get_session(bearer(
                &self.admin(),
                pb::GetSessionRequest { id: id.into() },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn roster(&self, session: &str) -> Vec<pb::Booking> {
        self.sessions()
            .list_bookings(bearer(
                &self.admin(),
                pb::ListBookingsRequest {
                    session_id: session.into(),
                    include_cancelled: true,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .bookings
    }

    async fn cancel_booking(&self, token: &str, booking: &str) -> Result<pb::Booking, Status> {
        self.sessions()
            .cancel_booking(bearer(
                token,
                pb::CancelBookingRequest {
                    id: booking.into(),
                    reason: "Cannot make it".into(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// Moves a session to have started a minute ago (an admin's change).
    async fn start_now(&self, session: &pb::Session) -> pb::Session {
        let now = chrono::Utc::now().timestamp();
        self.sessions()
            .update_session(bearer(
                &self.admin(),
                pb::UpdateSessionRequest {
                    session: Some(pb::Session {
                        id: session.id.clone(),
                        start_time: Some(prost_types::Timestamp {
                            seconds: now - 60,
                            nanos: 0,
                        }),
                        end_time: Some(prost_types::Timestamp {
                            seconds: now + 3_600,
                            nanos: 0,
                        }),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["start_time".into(), "end_time".into()],
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }
}

fn ivan(suite: &Suite) -> String {
    suite.auth.token("acme", "ivan", &[Role::Instructor])
}

async fn a_learner_books_attends_and_a_correction_reopens_the_step(suite: Suite) {
    let (pathway, _read, practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let enrolled = suite.enrol(&pathway, &[]).await;
    let ada = suite.learner("ada");
    let session = suite
        .schedule(&pathway, &practical, 86_400, 5, &["ivan"])
        .await
        .unwrap();

    // Ada sees the session among those she can book, and books it.
    let bookable = suite.bookable(&ada).await;
    assert_eq!(bookable.len(), 1);
    assert_eq!(bookable[0].id, session.id);
    assert_eq!(bookable[0].step_title, "Practical");
    assert_eq!(bookable[0].pathway_title, "Forklift safety");
    let booking = suite
        .book(&ada, &session.id, &enrolled["ada"])
        .await
        .unwrap();
    assert_eq!(booking.state(), pb::BookingState::Booked);
    assert_eq!(booking.learner, "ada");
    assert_eq!(suite.session(&session.id).await.booked_count, 1);
    let waiting = suite.step_of("ada", &practical).await;
    assert_eq!(waiting.reason(), pb::StepReason::AttendanceByInstructor);
    // Booked, nothing else is offered to book.
    let none = suite.bookable(&ada).await;
    assert!(none.is_empty(), "{none:?}");

    // The session starts; ivan marks Ada attended: the step is completed.
    suite.start_now(&session).await;
    let marked = suite
        .mark(
            &ivan(&suite),
            &session.id,
            "ada",
            pb::AttendanceStatus::Attended,
            "",
        )
        .await
        .unwrap();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].corrects_entry_id, "");
    let done = suite.step_of("ada", &practical).await;
    assert_eq!(done.state(), pb::StepState::StepDone);

    // A wrong mark is corrected with a reason, as a new entry; the step opens again.
    let unexplained = suite
        .mark(
            &ivan(&suite),
            &session.id,
            "ada",
            pb::AttendanceStatus::NoShow,
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unexplained), ["marks[0].reason"]);
    let corrected = suite
        .mark(
            &ivan(&suite),
            &session.id,
            "ada",
            pb::AttendanceStatus::NoShow,
            "Marked the wrong Ada",
        )
        .await
        .unwrap();
    assert_eq!(corrected[0].corrects_entry_id, marked[0].id);
    let reopened = suite.step_of("ada", &practical).await;
    assert_ne!(reopened.state(), pb::StepState::StepDone);
    let log = suite
        .sessions()
        .list_attendance(bearer(
            &ivan(&suite),
            pb::ListAttendanceRequest {
                session_id: session.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let statuses: Vec<_> = log.iter().map(|e| (e.status(), e.reason.clone())).collect();
    assert_eq!(
        statuses,
        [
            (pb::AttendanceStatus::Attended, String::new()),
            (pb::AttendanceStatus::NoShow, "Marked the wrong Ada".into())
        ]
    );
    // And corrected back: completed again, with the record of every change kept.
    suite
        .mark(
            &ivan(&suite),
            &session.id,
            "ada",
            pb::AttendanceStatus::Attended,
            "She was there after all",
        )
        .await
        .unwrap();
    assert_eq!(
        suite.step_of("ada", &practical).await.state(),
        pb::StepState::StepDone
    );
    assert_eq!(
        suite.roster(&session.id).await[0].attendance(),
        pb::AttendanceStatus::Attended
    );
}

async fn a_full_session_waitlists_and_a_freed_seat_goes_to_the_first_waiting(suite: Suite) {
    let (pathway, _read, practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let enrolled = suite.enrol(&pathway, &["bob", "cy", "dan"]).await;
    let session = suite
        .schedule(&pathway, &practical, 86_400, 1, &["ivan"])
        .await
        .unwrap();
    let mut bookings = HashMap::new();
    for name in ["ada", "bob", "cy"] {
        let booked = suite
            .book(&suite.learner(name), &session.id, &enrolled[name])
            .await
            .unwrap();
        bookings.insert(name, booked);
    }
    assert_eq!(bookings["ada"].state(), pb::BookingState::Booked);
    assert_eq!(bookings["bob"].state(), pb::BookingState::Waitlisted);
    assert_eq!(bookings["bob"].waitlist_position, 1);
    assert_eq!(bookings["cy"].waitlist_position, 2);
    assert_eq!(
        suite.step_of("bob", &practical).await.reason(),
        pb::StepReason::OnWaitlist
    );

    // Ada cancels: Bob gets her seat, Cy moves up.
    let cancelled = suite
        .cancel_booking(&suite.learner("ada"), &bookings["ada"].id)
        .await
        .unwrap();
    assert_eq!(cancelled.state(), pb::BookingState::BookingCancelled);
    let roster: HashMap<String, pb::Booking> = suite
        .roster(&session.id)
        .await
        .into_iter()
        .map(|b| (b.learner.clone(), b))
        .collect();
    assert_eq!(roster["bob"].state(), pb::BookingState::Booked);
    assert_eq!(roster["cy"].state(), pb::BookingState::Waitlisted);
    assert_eq!(roster["cy"].waitlist_position, 1);
    let counts = suite.session(&session.id).await;
    assert_eq!((counts.booked_count, counts.waitlist_count), (1, 1));
    assert_eq!(
        suite.step_of("ada", &practical).await.reason(),
        pb::StepReason::BookASession
    );

    // An admin seats Dan beyond capacity, with a reason.
    let no_reason = suite
        .sessions()
        .book_session(bearer(
            &suite.admin(),
            pb::BookSessionRequest {
                session_id: session.id.clone(),
                enrolment_id: enrolled["dan"].clone(),
                override_capacity: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    let learner_override = suite
        .sessions()
        .book_session(bearer(
            &suite.learner("dan"),
            pb::BookSessionRequest {
                session_id: session.id.clone(),
                enrolment_id: enrolled["dan"].clone(),
                override_capacity: true,
                reason: "Please".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(learner_override.code(), Code::PermissionDenied);
    let seated = suite
        .sessions()
        .book_session(bearer(
            &suite.admin(),
            pb::BookSessionRequest {
                session_id: session.id.clone(),
                enrolment_id: enrolled["dan"].clone(),
                override_capacity: true,
                reason: "Site manager needs him certified this week".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seated.state(), pb::BookingState::Booked);
    assert_eq!(seated.booked_by, "admin@acme");
    assert_eq!(
        seated.override_reason,
        "Site manager needs him certified this week"
    );
    let counts = suite.session(&session.id).await;
    assert_eq!((counts.booked_count, counts.waitlist_count), (2, 1));

    // A learner sees their own bookings, with the session.
    let mine = suite
        .sessions()
        .list_bookings(bearer(
            &suite.learner("cy"),
            pb::ListBookingsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .bookings;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].waitlist_position, 1);
    assert_eq!(mine[0].session.as_ref().unwrap().id, session.id);
}

async fn concurrent_bookings_never_sell_more_seats_than_there_are(suite: Suite) {
    let (pathway, _read, practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let others: Vec<String> = (1..12).map(|i| format!("learner{i:02}")).collect();
    let names: Vec<&str> = others.iter().map(String::as_str).collect();
    let enrolled = suite.enrol(&pathway, &names).await;
    let session = suite
        .schedule(&pathway, &practical, 86_400, 3, &["ivan"])
        .await
        .unwrap();
    let attempts = enrolled.iter().map(|(name, enrolment)| {
        let (suite, session) = (&suite, &session);
        async move {
            suite
                .book(&suite.learner(name), &session.id, enrolment)
                .await
                .unwrap()
        }
    });
    let results = futures::future::join_all(attempts).await;
    let booked = results
        .iter()
        .filter(|b| b.state() == pb::BookingState::Booked)
        .count();
    assert_eq!(booked, 3);
    assert_eq!(results.len() - booked, 9);
    let mut positions: Vec<i32> = suite
        .roster(&session.id)
        .await
        .iter()
        .filter(|b| b.state() == pb::BookingState::Waitlisted)
        .map(|b| b.waitlist_position)
        .collect();
    positions.sort();
    assert_eq!(positions, (1..=9).collect::<Vec<_>>());
    let counts = suite.session(&session.id).await;
    assert_eq!((counts.booked_count, counts.waitlist_count), (3, 9));
}

async fn a_cancelled_session_sends_its_learners_back_to_booking(suite: Suite) {
    let (pathway, _read, practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let enrolled = suite.enrol(&pathway, &["bob"]).await;
    let session = suite
        .schedule(&pathway, &practical, 86_400, 1, &["ivan"])
        .await
        .unwrap();
    let ada_booking = suite
        .book(&suite.learner("ada"), &session.id, &enrolled["ada"])
        .await
        .unwrap();
    suite
        .book(&suite.learner("bob"), &session.id, &enrolled["bob"])
        .await
        .unwrap();
    let no_reason = suite
        .sessions()
        .cancel_session(bearer(
            &ivan(&suite),
            pb::CancelSessionRequest {
                id: session.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    let cancelled = suite
        .sessions()
        .cancel_session(bearer(
            &ivan(&suite),
            pb::CancelSessionRequest {
                id: session.id.clone(),
                reason: "The forklift is in for repair".into(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.state(), pb::SessionState::SessionCancelled);
    assert_eq!((cancelled.booked_count, cancelled.waitlist_count), (0, 0));
    for booking in suite.roster(&session.id).await {
        assert_eq!(booking.state(), pb::BookingState::BookingCancelled);
        assert!(
            booking.cancel_reason.contains("in for repair"),
            "{booking:?}"
        );
    }
    for name in ["ada", "bob"] {
        assert_eq!(
            suite.step_of(name, &practical).await.reason(),
            pb::StepReason::BookASession
        );
    }
    // Nobody books a cancelled session; another one is booked as usual.
    let closed = suite
        .book(&suite.learner("ada"), &session.id, &enrolled["ada"])
        .await
        .unwrap_err();
    assert_eq!(closed.code(), Code::FailedPrecondition);
    let another = suite
        .schedule(&pathway, &practical, 2 * 86_400, 4, &["ivan"])
        .await
        .unwrap();
    let rebooked = suite
        .book(&suite.learner("ada"), &another.id, &enrolled["ada"])
        .await
        .unwrap();
    assert_eq!(rebooked.state(), pb::BookingState::Booked);
    // The old booking's calendar entry says it is cancelled.
    let calendar = calendar_of(&suite, &suite.learner("ada"), &ada_booking.id).await;
    assert_eq!(calendar["events"][0]["status"], "CANCELLED");
}

async fn sessions_change_without_republishing_and_instructors_see_their_rosters(suite: Suite) {
    let (pathway, _read, practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let enrolled = suite.enrol(&pathway, &["bob"]).await;
    // The step's instructor schedules a session himself; he teaches it.
    let own = suite
        .sessions()
        .create_session(bearer(
            &ivan(&suite),
            pb::CreateSessionRequest {
                session: Some(pb::Session {
                    pathway_id: pathway.clone(),
                    step_id: practical.clone(),
                    start_time: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() + 7_200,
                        nanos: 0,
                    }),
                    end_time: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() + 10_800,
                        nanos: 0,
                    }),
                    time_zone: "Africa/Johannesburg".into(),
                    meeting_url: "https://meet.example.com/forklift".into(),
                    capacity: 2,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.instructors, ["ivan"]);
    assert_eq!(own.created_by, "ivan");
    // Another instructor is not the step's: refused.
    let olga = suite.auth.token("acme", "olga", &[Role::Instructor]);
    let not_hers = suite
        .sessions()
        .create_session(bearer(
            &olga,
            pb::CreateSessionRequest {
                session: Some(own.clone()),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(not_hers.code(), Code::PermissionDenied);
    suite
        .book(&suite.learner("ada"), &own.id, &enrolled["ada"])
        .await
        .unwrap();
    suite
        .book(&suite.learner("bob"), &own.id, &enrolled["bob"])
        .await
        .unwrap();

    // Capacity below the seats booked is refused; above it is fine; an etag guards the change.
    let change = |capacity: i32, etag: &str| pb::UpdateSessionRequest {
        session: Some(pb::Session {
            id: own.id.clone(),
            capacity,
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["capacity".into()],
        }),
    };
    let too_small = suite
        .sessions()
        .update_session(bearer(&ivan(&suite), change(1, "")))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_small), ["session.capacity"]);
    let stale = suite
        .sessions()
        .update_session(bearer(&ivan(&suite), change(3, "\"99\"")))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let bigger = suite
        .sessions()
        .update_session(bearer(&ivan(&suite), change(3, &own.etag)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bigger.capacity, 3);
    assert_eq!(bigger.time_zone, "Africa/Johannesburg");
    assert_ne!(bigger.etag, own.etag);
    // Olga may not change ivan's session.
    let olga_change = suite
        .sessions()
        .update_session(bearer(&olga, change(4, "")))
        .await
        .unwrap_err();
    assert_eq!(olga_change.code(), Code::PermissionDenied);

    // Ivan's sessions and the roster.
    let taught = suite
        .sessions()
        .list_sessions(bearer(
            &ivan(&suite),
            pb::ListSessionsRequest {
                instructor: "ivan".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(taught.len(), 1);
    let roster = suite
        .sessions()
        .list_bookings(bearer(
            &ivan(&suite),
            pb::ListBookingsRequest {
                session_id: own.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .bookings;
    let mut names: Vec<_> = roster.iter().map(|b| b.learner.as_str()).collect();
    names.sort();
    assert_eq!(names, ["ada", "bob"]);
    // A learner does not read rosters.
    let learner_roster = suite
        .sessions()
        .list_bookings(bearer(
            &suite.learner("ada"),
            pb::ListBookingsRequest {
                session_id: own.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(learner_roster.code(), Code::PermissionDenied);

    // The whole roster is marked at once, once started; then nobody is left unmarked.
    suite.start_now(&bigger).await;
    let all = suite
        .sessions()
        .mark_attendance(bearer(
            &ivan(&suite),
            pb::MarkAttendanceRequest {
                session_id: own.id.clone(),
                marks: vec![],
                whole_roster: pb::AttendanceStatus::Attended as i32,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(all.len(), 2);
    for name in ["ada", "bob"] {
        assert_eq!(
            suite.step_of(name, &practical).await.state(),
            pb::StepState::StepDone
        );
    }
}

async fn bad_bookings_are_refused_precisely_and_change_nothing(suite: Suite) {
    let (pathway, _read, practical) =
        training_pathway(&suite, pathway_pb::Sequencing::Sequential).await;
    let enrolled = suite.enrol(&pathway, &[]).await;
    let ada = suite.learner("ada");
    let session = suite
        .schedule(&pathway, &practical, 86_400, 4, &["ivan"])
        .await
        .unwrap();

    // A locked step: Read comes first, in words.
    let locked = suite
        .book(&ada, &session.id, &enrolled["ada"])
        .await
        .unwrap_err();
    assert_eq!(locked.code(), Code::FailedPrecondition);
    assert!(
        locked.message().contains("Complete “Read” first"),
        "{locked:?}"
    );

    // A session of another pathway's step.
    let (other, _, other_practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let elsewhere = suite
        .schedule(&other, &other_practical, 86_400, 4, &["ivan"])
        .await
        .unwrap();
    let wrong_step = suite
        .book(&ada, &elsewhere.id, &enrolled["ada"])
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&wrong_step), ["session_id"]);

    // After the booking deadline (Read done, so only the deadline stands in the way).
    let read = suite.progress_of("ada").await[0].steps[0].step_id.clone();
    suite.complete(&ada, &enrolled["ada"], &read).await.unwrap();
    let started = suite
        .schedule(&pathway, &practical, -60, 4, &["ivan"])
        .await
        .unwrap();
    let late = suite
        .book(&ada, &started.id, &enrolled["ada"])
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("booking closed"), "{late:?}");

    // Twice: the second is refused.
    suite
        .book(&ada, &session.id, &enrolled["ada"])
        .await
        .unwrap();
    let twice = suite
        .book(&ada, &session.id, &enrolled["ada"])
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::AlreadyExists);

    // Someone else's enrolment, an unknown session, another tenant's session.
    let bob = suite.learner("bob");
    let not_his = suite
        .book(&bob, &session.id, &enrolled["ada"])
        .await
        .unwrap_err();
    assert_eq!(not_his.code(), Code::NotFound);
    let unknown = suite
        .book(
            &ada,
            "0190a4a8-0000-7000-8000-000000000000",
            &enrolled["ada"],
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let globex = suite.auth.token("globex", "ada", &[Role::Learner]);
    let foreign = suite
        .book(&globex, &session.id, &enrolled["ada"])
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    let globex_admin = suite.auth.admin("globex");
    let unseen = suite
        .sessions()
        .get_session(bearer(
            &globex_admin,
            pb::GetSessionRequest {
                id: session.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unseen.code(), Code::NotFound);

    // Nothing above changed the seats.
    let counts = suite.session(&session.id).await;
    assert_eq!((counts.booked_count, counts.waitlist_count), (1, 0));
    assert_eq!(suite.session(&started.id).await.booked_count, 0);
    assert_eq!(suite.session(&elsewhere.id).await.booked_count, 0);
}

async fn bad_sessions_and_marks_are_refused_precisely_and_change_nothing(suite: Suite) {
    let (pathway, read, practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let enrolled = suite.enrol(&pathway, &["bob"]).await;
    let now = chrono::Utc::now().timestamp();
    let at = |seconds: i64| Some(prost_types::Timestamp { seconds, nanos: 0 });
    let attempt = |session: pb::Session| {
        let suite = &suite;
        async move {
            suite
                .sessions()
                .create_session(bearer(
                    &suite.admin(),
                    pb::CreateSessionRequest {
                        session: Some(session),
                        request_id: String::new(),
                    },
                ))
                .await
                .unwrap_err()
        }
    };
    let base = pb::Session {
        pathway_id: pathway.clone(),
        step_id: practical.clone(),
        start_time: at(now + 86_400),
        end_time: at(now + 90_000),
        time_zone: "Europe/London".into(),
        location: "Depot".into(),
        capacity: 4,
        ..Default::default()
    };
    let backwards = attempt(pb::Session {
        end_time: at(now + 80_000),
        ..base.clone()
    })
    .await;
    assert_eq!(violated_fields(&backwards), ["session.end_time"]);
    let nowhere = attempt(pb::Session {
        time_zone: "Atlantis/Capital".into(),
        location: String::new(),
        booking_deadline: at(now + 86_500),
        ..base.clone()
    })
    .await;
    assert_eq!(
        violated_fields(&nowhere),
        [
            "session.time_zone",
            "session.location",
            "session.booking_deadline"
        ]
    );
    let content = attempt(pb::Session {
        step_id: read.clone(),
        ..base.clone()
    })
    .await;
    assert_eq!(violated_fields(&content), ["session.step_id"]);
    let no_pathway = attempt(pb::Session {
        pathway_id: "0190a4a8-0000-7000-8000-000000000000".into(),
        ..base.clone()
    })
    .await;
    assert_eq!(no_pathway.code(), Code::NotFound);
    let learner_creates = suite
        .sessions()
        .create_session(bearer(
            &suite.learner("ada"),
            pb::CreateSessionRequest {
                session: Some(base.clone()),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(learner_creates.code(), Code::PermissionDenied);
    let listed = suite
        .sessions()
        .list_sessions(bearer(
            &suite.admin(),
            pb::ListSessionsRequest {
                pathway_id: pathway.clone(),
                include_past: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert!(listed.is_empty(), "nothing was created: {listed:?}");

    // Marks: before the start, for someone without a seat, by an instructor who does not
    // teach it.
    let session = suite
        .schedule(&pathway, &practical, 86_400, 4, &["ivan"])
        .await
        .unwrap();
    suite
        .book(&suite.learner("ada"), &session.id, &enrolled["ada"])
        .await
        .unwrap();
    let early = suite
        .mark(
            &ivan(&suite),
            &session.id,
            "ada",
            pb::AttendanceStatus::Attended,
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    suite.start_now(&session).await;
    let unbooked = suite
        .mark(
            &ivan(&suite),
            &session.id,
            "bob",
            pb::AttendanceStatus::Attended,
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unbooked), ["marks[0].learner"]);
    let olga = suite.auth.token("acme", "olga", &[Role::Instructor]);
    let not_teaching = suite
        .mark(
            &olga,
            &session.id,
            "ada",
            pb::AttendanceStatus::Attended,
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(not_teaching.code(), Code::PermissionDenied);
    let unspecified = suite
        .mark(
            &ivan(&suite),
            &session.id,
            "ada",
            pb::AttendanceStatus::Unspecified,
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unspecified), ["marks[0].status"]);
    let log = suite
        .sessions()
        .list_attendance(bearer(
            &suite.admin(),
            pb::ListAttendanceRequest {
                session_id: session.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(log.is_empty(), "nothing was marked: {log:?}");
    assert_ne!(
        suite.step_of("ada", &practical).await.state(),
        pb::StepState::StepDone
    );
}

/// A calendar export (`booking`: one booking's, empty: the caller's whole calendar) as the
/// independent parser reads it (tests/calendar/check.py).
async fn calendar_of(suite: &Suite, token: &str, booking: &str) -> serde_json::Value {
    let stream = suite
        .sessions()
        .export_calendar(bearer(
            token,
            pb::ExportCalendarRequest {
                booking_id: booking.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    parse_calendar(&downloaded(stream).await.unwrap())
}

/// The bytes of a calendar download.
async fn downloaded(mut stream: tonic::Streaming<pb::CalendarChunk>) -> Result<Vec<u8>, Status> {
    let mut text = Vec::new();
    while let Some(chunk) = stream.message().await? {
        text.extend(chunk.data);
    }
    Ok(text)
}

fn parse_calendar(text: &[u8]) -> serde_json::Value {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/calendar/check.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the calendar check");
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused:\n{}",
        String::from_utf8_lossy(text)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        parsed["problems"],
        serde_json::json!([]),
        "{}",
        String::from_utf8_lossy(text)
    );
    parsed
}

async fn calendars_import_into_an_independent_parser(suite: Suite) {
    let (pathway, _read, practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let enrolled = suite.enrol(&pathway, &[]).await;
    let session = suite
        .sessions()
        .create_session(bearer(
            &suite.admin(),
            pb::CreateSessionRequest {
                session: Some(pb::Session {
                    pathway_id: pathway.clone(),
                    step_id: practical.clone(),
                    start_time: Some(prost_types::Timestamp {
                        seconds: 1_900_000_800,
                        nanos: 0,
                    }),
                    end_time: Some(prost_types::Timestamp {
                        seconds: 1_900_011_600,
                        nanos: 0,
                    }),
                    time_zone: "Europe/London".into(),
                    // Characters iCalendar escapes, and a long line it must fold.
                    location: "Depot; Bay 3, Gate \"B\" — follow the yellow line past the \
                               loading docks to the training yard behind the workshop"
                        .into(),
                    meeting_url: "https://meet.example.com/forklift?room=1&lang=en".into(),
                    capacity: 4,
                    instructors: vec!["ivan".into()],
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let booking = suite
        .book(&suite.learner("ada"), &session.id, &enrolled["ada"])
        .await
        .unwrap();
    let one = calendar_of(&suite, &suite.learner("ada"), &booking.id).await;
    assert_eq!(one["version"], "2.0");
    let event = &one["events"][0];
    assert_eq!(event["uid"], format!("{}@sessions.lms", session.id));
    assert_eq!(event["summary"], "Practical");
    assert_eq!(event["start"], "2030-03-17T18:00:00+00:00");
    assert_eq!(event["end"], "2030-03-17T21:00:00+00:00");
    assert_eq!(
        event["location"],
        "Depot; Bay 3, Gate \"B\" — follow the yellow line past the loading docks to the \
         training yard behind the workshop"
    );
    assert_eq!(
        event["url"],
        "https://meet.example.com/forklift?room=1&lang=en"
    );
    assert_eq!(event["status"], "CONFIRMED");
    assert!(
        event["description"]
            .as_str()
            .unwrap()
            .contains("Time zone: Europe/London")
    );

    // The learner's and the instructor's whole calendars.
    for (token, who) in [(suite.learner("ada"), "ada"), (ivan(&suite), "ivan")] {
        let all = calendar_of(&suite, &token, "").await;
        assert_eq!(all["events"].as_array().unwrap().len(), 1, "{who}");
    }
    // Someone else's booking is not found.
    let bob = suite.learner("bob");
    let answer = suite
        .sessions()
        .export_calendar(bearer(
            &bob,
            pb::ExportCalendarRequest {
                booking_id: booking.id.clone(),
            },
        ))
        .await;
    let Err(status) = answer else {
        panic!("bob read ada's booking");
    };
    assert_eq!(status.code(), Code::NotFound);
}

/// A calendar feed as a calendar app reads it: no token, the secret in the address.
async fn read_feed(suite: &Suite, secret: &str) -> Result<serde_json::Value, Status> {
    let stream = pb::calendar_feed_service_client::CalendarFeedServiceClient::new(
        suite.records_channel.clone(),
    )
    .export_calendar_feed(pb::ExportCalendarFeedRequest {
        secret: secret.into(),
    })
    .await?
    .into_inner();
    Ok(parse_calendar(&downloaded(stream).await?))
}

async fn a_calendar_feed_is_read_by_its_secret_alone(suite: Suite) {
    let (pathway, _read, practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let enrolled = suite.enrol(&pathway, &["bob"]).await;
    let session = suite
        .schedule(&pathway, &practical, 86_400, 4, &["ivan"])
        .await
        .unwrap();
    suite
        .book(&suite.learner("ada"), &session.id, &enrolled["ada"])
        .await
        .unwrap();
    let create = |token: String| {
        let mut sessions = suite.sessions();
        async move {
            sessions
                .create_calendar_feed(bearer(&token, pb::CreateCalendarFeedRequest {}))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let ada = create(suite.learner("ada")).await;
    assert_eq!(ada.secret.len(), 43);
    assert_eq!(ada.path, format!("/v1/calendarFeeds/{}", ada.secret));
    let calendar = read_feed(&suite, &ada.secret).await.unwrap();
    assert_eq!(
        calendar["events"][0]["uid"],
        format!("{}@sessions.lms", session.id)
    );
    // Ivan's feed holds the session he teaches; Bob's holds nothing of Ada's.
    let ivan_feed = create(ivan(&suite)).await;
    let taught = read_feed(&suite, &ivan_feed.secret).await.unwrap();
    assert_eq!(taught["events"].as_array().unwrap().len(), 1);
    let bob = create(suite.learner("bob")).await;
    let nothing = read_feed(&suite, &bob.secret).await.unwrap();
    assert_eq!(nothing["events"], serde_json::json!([]));

    // A new feed replaces the old address; a deleted one answers NOT_FOUND, as does a guess.
    let again = create(suite.learner("ada")).await;
    assert_ne!(again.secret, ada.secret);
    let old = read_feed(&suite, &ada.secret).await.unwrap_err();
    assert_eq!(old.code(), Code::NotFound);
    read_feed(&suite, &again.secret).await.unwrap();
    let deleted = suite
        .sessions()
        .delete_calendar_feed(bearer(
            &suite.learner("ada"),
            pb::DeleteCalendarFeedRequest {},
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.deleted);
    let gone = read_feed(&suite, &again.secret).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let guess = read_feed(&suite, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await
        .unwrap_err();
    assert_eq!(guess.code(), Code::NotFound);
    let blank = read_feed(&suite, "").await.unwrap_err();
    assert_eq!(violated_fields(&blank), ["secret"]);
}

/// enrolment-service withdraws Ada while she holds the only seat: her booking is cancelled as
/// the event arrives, and the seat goes to Bob, who was waiting.
async fn a_withdrawn_learner_gives_up_their_seat_to_the_first_waiting(suite: Suite) {
    let (pathway, _read, practical) = training_pathway(&suite, pathway_pb::Sequencing::Free).await;
    let enrolled = suite.enrol(&pathway, &["bob"]).await;
    let session = suite
        .schedule(&pathway, &practical, 86_400, 1, &["ivan"])
        .await
        .unwrap();
    suite
        .book(&suite.learner("ada"), &session.id, &enrolled["ada"])
        .await
        .unwrap();
    let bob = suite
        .book(&suite.learner("bob"), &session.id, &enrolled["bob"])
        .await
        .unwrap();
    assert_eq!(bob.state(), pb::BookingState::Waitlisted);
    suite
        .enrolments
        .clone()
        .withdraw_enrolment(bearer(
            &suite.admin(),
            enrolment_pb::WithdrawEnrolmentRequest {
                id: enrolled["ada"].clone(),
                reason: "Left the company".into(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let roster = loop {
        let roster: HashMap<String, pb::Booking> = suite
            .roster(&session.id)
            .await
            .into_iter()
            .map(|b| (b.learner.clone(), b))
            .collect();
        if roster["ada"].state() == pb::BookingState::BookingCancelled {
            break roster;
        }
        assert!(
            Instant::now() < deadline,
            "the withdrawal never arrived: {roster:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(roster["ada"].cancel_reason, "the enrolment was withdrawn");
    assert_eq!(roster["bob"].state(), pb::BookingState::Booked);
    let counts = suite.session(&session.id).await;
    assert_eq!((counts.booked_count, counts.waitlist_count), (1, 0));
}
