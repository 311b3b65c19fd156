//! cmi5's statement rules, one by one (cmi5 9), and what the LMS tells the AU.
use super::*;

fn unit(move_on: MoveOn, mastery_score: Option<f64>) -> Cmi5Unit {
    Cmi5Unit {
        url: "https://content.example.com/au.html?lang=en".into(),
        publisher_id: "https://vendor.example.com/au".into(),
        course_id: "https://vendor.example.com/course".into(),
        move_on,
        mastery_score,
        own_window: false,
        launch_parameters: "{\"level\":2}".into(),
        entitlement_key: String::new(),
        block_ids: Vec::new(),
    }
}

fn actor() -> Value {
    json!({"objectType": "Agent", "account": {"homePage": "urn:lms:tenant:acme", "name": "ada"}})
}

fn statement(verb: &str) -> Map<String, Value> {
    let mut s = json!({
        "actor": actor(),
        "verb": {"id": verb},
        "object": {"id": "urn:lms:pathway:p:step:s"},
        "context": {
            "registration": "0193a0c4-7e0b-7f3e-9d2c-1a2b3c4d5e6f",
            "contextActivities": {
                "grouping": [{"id": "https://vendor.example.com/au"}],
                "category": [{"id": CATEGORY}],
            },
            "extensions": {SESSION_ID: "s1"},
        },
        "timestamp": "2026-11-28T10:00:00Z",
        "result": {"duration": "PT1S"},
    });
    match verb {
        INITIALIZED => {
            s.as_object_mut().unwrap().remove("result");
        }
        COMPLETED => s["result"]["completion"] = json!(true),
        PASSED => s["result"]["success"] = json!(true),
        FAILED => s["result"]["success"] = json!(false),
        _ => {}
    }
    if matches!(verb, COMPLETED | PASSED | FAILED) {
        s["context"]["contextActivities"]["category"] =
            json!([{"id": CATEGORY}, {"id": MOVE_ON_CATEGORY}]);
    }
    s.as_object().unwrap().clone()
}

struct Run {
    unit: Cmi5Unit,
    actor: Value,
    session: SessionState,
    state: UnitState,
}

impl Run {
    fn new(move_on: MoveOn, mastery_score: Option<f64>) -> Run {
        Run {
            unit: unit(move_on, mastery_score),
            actor: actor(),
            session: SessionState::default(),
            state: UnitState::default(),
        }
    }

    fn send(&mut self, statement: &Map<String, Value>) -> Result<Effect, String> {
        let launch = Launch {
            session_id: "s1",
            registration: "0193a0c4-7e0b-7f3e-9d2c-1a2b3c4d5e6f",
            activity_id: "urn:lms:pathway:p:step:s",
            actor: &self.actor,
            unit: &self.unit,
        };
        admit(statement, &launch, &mut self.session, &mut self.state)
    }

    /// A new session of the same registration.
    fn relaunch(&mut self) {
        self.session = SessionState::default();
    }
}

#[test]
fn a_session_starts_with_initialized_and_ends_with_terminated() {
    let mut run = Run::new(MoveOn::Completed, None);
    let early = run.send(&statement(COMPLETED)).unwrap_err();
    assert!(early.contains("initialized"), "{early}");
    assert_eq!(run.send(&statement(INITIALIZED)), Ok(Effect::None));
    assert!(
        run.send(&statement(INITIALIZED)).is_err(),
        "no verb twice in a session"
    );
    assert_eq!(run.send(&statement(COMPLETED)), Ok(Effect::Progressed));
    assert!(run.state.satisfies(MoveOn::Completed));
    assert_eq!(run.send(&statement(TERMINATED)), Ok(Effect::Terminated));
    assert!(
        run.send(&statement(INITIALIZED))
            .unwrap_err()
            .contains("already sent")
    );
}

/// `statement(verb)` timestamped `at` (seconds past 10:00 UTC, given in another offset).
fn at(verb: &str, seconds: u32) -> Map<String, Value> {
    let mut s = statement(verb);
    s["timestamp"] = json!(format!("2026-11-28T11:00:{seconds:02}+01:00"));
    s
}

/// A cmi5 allowed statement (no cmi5 category) timestamped `seconds` past 10:00 UTC.
fn allowed_at(seconds: u32) -> Map<String, Value> {
    let mut s = at(INITIALIZED, seconds);
    s["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/answered");
    s["context"]["contextActivities"]["category"] = json!([]);
    s
}

#[test]
fn order_in_a_session_is_the_timestamps_not_the_arrivals() {
    let mut run = Run::new(MoveOn::CompletedAndPassed, None);
    run.send(&at(INITIALIZED, 10)).unwrap();
    assert!(
        run.send(&allowed_at(9))
            .unwrap_err()
            .contains("before the session's initialized")
    );
    assert_eq!(
        run.send(&allowed_at(10)),
        Ok(Effect::None),
        "timestamps may repeat"
    );
    assert_eq!(run.send(&at(COMPLETED, 20)), Ok(Effect::Progressed));
    assert!(
        run.send(&at(TERMINATED, 15))
            .unwrap_err()
            .contains("terminated must be the last"),
        "terminated is timestamped before the completion"
    );
    assert_eq!(run.send(&at(TERMINATED, 30)), Ok(Effect::Terminated));
    // Sent before terminated, arriving after it: taken (within the grace the app keeps).
    assert_eq!(run.send(&allowed_at(25)), Ok(Effect::None));
    assert_eq!(run.send(&at(PASSED, 29)), Ok(Effect::Progressed));
    assert!(run.state.satisfies(MoveOn::CompletedAndPassed));
    assert!(
        run.send(&allowed_at(31))
            .unwrap_err()
            .contains("after the session's terminated")
    );
}

#[test]
fn a_terminated_session_takes_statements_for_its_grace_period_an_abandoned_one_none() {
    let ended = chrono::NaiveDate::from_ymd_opt(2026, 11, 28)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let later = |seconds: i64| ended + chrono::TimeDelta::seconds(seconds);
    assert!(takes_statements(None, false, later(3600)));
    assert!(takes_statements(
        Some(ended),
        true,
        later(GRACE_AFTER_TERMINATED_SECONDS)
    ));
    assert!(!takes_statements(
        Some(ended),
        true,
        later(GRACE_AFTER_TERMINATED_SECONDS + 1)
    ));
    assert!(!takes_statements(Some(ended), false, later(1)), "abandoned");
}

#[test]
fn completed_and_passed_come_once_per_registration_and_failed_never_after_passed() {
    let mut run = Run::new(MoveOn::CompletedAndPassed, None);
    run.send(&statement(INITIALIZED)).unwrap();
    run.send(&statement(FAILED)).unwrap();
    assert!(
        run.send(&statement(PASSED)).is_err(),
        "one judgement per session"
    );
    run.relaunch();
    run.send(&statement(INITIALIZED)).unwrap();
    run.send(&statement(PASSED)).unwrap();
    assert!(!run.state.satisfies(MoveOn::CompletedAndPassed));
    run.send(&statement(COMPLETED)).unwrap();
    assert!(run.state.satisfies(MoveOn::CompletedAndPassed));
    run.relaunch();
    run.send(&statement(INITIALIZED)).unwrap();
    assert!(
        run.send(&statement(COMPLETED))
            .unwrap_err()
            .contains("already completed")
    );
    assert!(
        run.send(&statement(PASSED))
            .unwrap_err()
            .contains("already passed")
    );
    assert!(
        run.send(&statement(FAILED))
            .unwrap_err()
            .contains("cannot follow passed")
    );
}

#[test]
fn move_on_criteria() {
    let done = |completed, passed| UnitState { completed, passed };
    assert!(done(false, true).satisfies(MoveOn::Passed));
    assert!(!done(true, false).satisfies(MoveOn::Passed));
    assert!(done(true, false).satisfies(MoveOn::CompletedOrPassed));
    assert!(!done(true, false).satisfies(MoveOn::CompletedAndPassed));
    assert!(done(false, false).satisfies(MoveOn::NotApplicable));
}

#[test]
fn results_keep_cmi5s_shape() {
    let mut run = Run::new(MoveOn::Passed, Some(0.8));
    run.send(&statement(INITIALIZED)).unwrap();
    let mut low = statement(PASSED);
    low["result"]["score"] = json!({"scaled": 0.5});
    low["context"]["extensions"][MASTERY_SCORE] = json!(0.8);
    assert!(run.send(&low).unwrap_err().contains("masteryScore"));
    let mut without_extension = statement(PASSED);
    without_extension["result"]["score"] = json!({"scaled": 0.9});
    assert!(
        run.send(&without_extension)
            .unwrap_err()
            .contains(MASTERY_SCORE)
    );
    let mut unscored = statement(PASSED);
    unscored["context"]["extensions"][MASTERY_SCORE] = json!(0.8);
    assert!(run.send(&unscored).unwrap_err().contains("scaled"));
    let mut no_move_on = statement(COMPLETED);
    no_move_on["context"]["contextActivities"]["category"] = json!([{"id": CATEGORY}]);
    assert!(
        run.send(&no_move_on)
            .unwrap_err()
            .contains("moveOn category")
    );
    let mut success_on_completed = statement(COMPLETED);
    success_on_completed["result"]["success"] = json!(true);
    assert!(
        run.send(&success_on_completed)
            .unwrap_err()
            .contains("success")
    );
    let mut no_duration = statement(COMPLETED);
    no_duration["result"]
        .as_object_mut()
        .unwrap()
        .remove("duration");
    assert!(run.send(&no_duration).unwrap_err().contains("duration"));
    let mut scored_completion = statement(COMPLETED);
    scored_completion["result"]["score"] = json!({"scaled": 1.0});
    assert!(run.send(&scored_completion).unwrap_err().contains("score"));
    assert_eq!(
        run.session.verbs,
        vec![INITIALIZED.to_string()],
        "nothing refused counted"
    );
    let mut passing = statement(PASSED);
    passing["result"]["score"] = json!({"scaled": 0.8});
    passing["context"]["extensions"][MASTERY_SCORE] = json!(0.8);
    assert_eq!(run.send(&passing), Ok(Effect::Progressed));
}

#[test]
fn statements_must_be_this_launchs() {
    let mut run = Run::new(MoveOn::Completed, None);
    let mut other = statement(INITIALIZED);
    other["actor"]["account"]["name"] = json!("bob");
    assert!(run.send(&other).unwrap_err().contains("actor"));
    let mut named = statement(INITIALIZED);
    named["actor"]["name"] = json!("Ada");
    let mut registration = statement(INITIALIZED);
    registration["context"]["registration"] = json!("0193a0c4-0000-7f3e-9d2c-1a2b3c4d5e6f");
    assert!(
        run.send(&registration)
            .unwrap_err()
            .contains("registration")
    );
    let mut object = statement(INITIALIZED);
    object["object"]["id"] = json!("https://vendor.example.com/au");
    assert!(run.send(&object).unwrap_err().contains("activityId"));
    let mut grouping = statement(INITIALIZED);
    grouping["context"]["contextActivities"]["grouping"] = json!([]);
    assert!(run.send(&grouping).unwrap_err().contains("grouping"));
    let mut untimed = statement(INITIALIZED);
    untimed.remove("timestamp");
    assert!(run.send(&untimed).unwrap_err().contains("timestamp"));
    assert_eq!(
        run.send(&named),
        Ok(Effect::None),
        "a name beside the account is the same Agent"
    );
    let mut voiding = statement(INITIALIZED);
    voiding["verb"]["id"] = json!(VOIDED);
    assert!(run.send(&voiding).unwrap_err().contains("void"));
    let mut lms_verb = statement(INITIALIZED);
    lms_verb["verb"]["id"] = json!(WAIVED);
    assert!(run.send(&lms_verb).is_err());
    // cmi5 allowed: no cmi5 category, anything between initialized and terminated.
    let mut allowed = statement(INITIALIZED);
    allowed["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/answered");
    allowed["context"]["contextActivities"]["category"] = json!([]);
    assert_eq!(run.send(&allowed), Ok(Effect::None));
    allowed["context"]["contextActivities"]["category"] = json!([{"id": MOVE_ON_CATEGORY}]);
    assert!(run.send(&allowed).is_err());
}

#[test]
fn what_the_lms_tells_the_au_is_valid_xapi() {
    let unit = unit(MoveOn::CompletedAndPassed, Some(0.8));
    let actor = actor();
    let launch = Launch {
        session_id: "s1",
        registration: "0193a0c4-7e0b-7f3e-9d2c-1a2b3c4d5e6f",
        activity_id: "urn:lms:pathway:p:step:s",
        actor: &actor,
        unit: &unit,
    };
    let id = "0193a0c4-7e0b-7f3e-9d2c-000000000001";
    let at = "2026-11-28T10:00:00.000Z";
    for statement in [
        launched(&launch, id, at),
        abandoned(&launch, id, at, &duration(61_005)),
        waived(&launch, id, at, "Administrative"),
        satisfied(
            &launch,
            id,
            at,
            &Whole {
                activity_id: "urn:lms:pathway:p:cmi5-course:c".into(),
                publisher_id: "https://vendor.example.com/course".into(),
                block: false,
            },
        ),
    ] {
        let checked =
            crate::domain::xapi::check_request(&statement, None, crate::domain::xapi::Version::V1);
        assert!(
            checked.is_ok(),
            "{statement}: {checked:?}",
            checked = checked.err()
        );
    }
    assert_eq!(duration(61_005), "PT61.005S");
    let url = launch_url(
        &unit.url,
        "https://lms.example.com/xapi/",
        "https://lms.example.com/cmi5/fetch/t",
        &launch,
    )
    .unwrap();
    let parsed = url::Url::parse(&url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(
        pairs[0],
        ("lang".to_string(), "en".to_string()),
        "the AU's own query stays"
    );
    assert!(pairs.contains(&("actor".to_string(), actor.to_string())));
    let data = launch_data(&launch, "");
    assert_eq!(data["masteryScore"], json!(0.8));
    assert_eq!(data["moveOn"], "CompletedAndPassed");
    assert!(data.get("returnURL").is_none(), "none given, none told");
}
