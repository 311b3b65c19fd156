//! The learner record as xAPI statements: each activity the suite records on an enrolment
//! (a step started, completed or failed, an assessment passed or failed with its score, a
//! session attended, a completion reopened) is also a statement in the tenant's store, written
//! in the same transaction, so that an organisation's analytics reads one format.
//!
//! The statement's id is derived from the activity's (UUID v5), so it is stable: the same
//! activity is always the same statement. Its actor is the learner's account on the tenant's
//! home page, its object the step (`urn:lms:pathway:<pathway>:step:<step>`, its parent the
//! pathway), its registration the enrolment.

use chrono::{NaiveDateTime, SecondsFormat};
use serde_json::{Value, json};

use crate::domain::activity::{Activity, ActivityKind, ActivitySource};
use crate::domain::enrolment::Enrolment;

/// Where the learner record's statement ids come from (UUID v5 namespace; random, fixed).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c4f_2d0e_8b1a_4e57_9a3c_51d2_e6f0_b7a4);

pub const ATTEMPTED: &str = "http://adlnet.gov/expapi/verbs/attempted";
pub const COMPLETED: &str = "http://adlnet.gov/expapi/verbs/completed";
pub const PASSED: &str = "http://adlnet.gov/expapi/verbs/passed";
pub const FAILED: &str = "http://adlnet.gov/expapi/verbs/failed";
pub const ATTENDED: &str = "http://adlnet.gov/expapi/verbs/attended";
/// A completion undone (a corrected attendance mark): no ADL verb says it.
pub const REOPENED: &str = "urn:lms:verbs:reopened";

/// Where the suite's own extensions live.
pub const SOURCE_EXTENSION: &str = "urn:lms:xapi:source";
pub const RECORDED_BY_EXTENSION: &str = "urn:lms:xapi:recorded-by";

/// The statement id of the activity `activity_id` of `tenant`.
pub fn statement_id(tenant: &str, activity_id: &str) -> String {
    uuid::Uuid::new_v5(
        &NAMESPACE,
        format!("activity:{tenant}:{activity_id}").as_bytes(),
    )
    .to_string()
}

/// The activity id of a pathway's step: the object of its statements (and, for a cmi5 step,
/// the AU's `activityId`).
pub fn step_activity_id(pathway_id: &str, step_id: &str) -> String {
    format!("urn:lms:pathway:{pathway_id}:step:{step_id}")
}

/// The LMS's activity id of a cmi5 course on a pathway (cmi5 9.3.9: not the publisher's).
pub fn course_activity_id(pathway_id: &str, course_id: &str) -> String {
    let course = uuid::Uuid::new_v5(&NAMESPACE, course_id.as_bytes());
    format!("urn:lms:pathway:{pathway_id}:cmi5-course:{course}")
}

/// The LMS's activity id of a cmi5 block on a pathway (as for its course).
pub fn block_activity_id(pathway_id: &str, block_id: &str) -> String {
    let block = uuid::Uuid::new_v5(&NAMESPACE, block_id.as_bytes());
    format!("urn:lms:pathway:{pathway_id}:cmi5-block:{block}")
}

/// The registration standing for an enrolment: its id when that is a UUID, else one derived.
pub fn registration(tenant: &str, enrolment: &str) -> String {
    super::formats::uuid(enrolment).unwrap_or_else(|| {
        uuid::Uuid::new_v5(
            &NAMESPACE,
            format!("enrolment:{tenant}:{enrolment}").as_bytes(),
        )
        .to_string()
    })
}

/// The verb an activity is told with; None for what is not the learner's learning (a move
/// to another pathway version) and for a cmi5 step's launches and completions, which its
/// content's own statements and the LMS's cmi5 statements tell (see `domain::cmi5`).
fn verb(activity: &Activity) -> Option<(&'static str, &'static str)> {
    if activity.source == ActivitySource::ContentStatements {
        return None;
    }
    let by_assessment = activity.source == ActivitySource::AssessmentOutcome;
    let by_attendance = activity.source == ActivitySource::InstructorAttendance;
    Some(match activity.kind {
        ActivityKind::StepCompleted if by_attendance => (ATTENDED, "attended"),
        ActivityKind::StepCompleted | ActivityKind::StepStarted if by_assessment => {
            (PASSED, "passed")
        }
        ActivityKind::StepCompleted => (COMPLETED, "completed"),
        ActivityKind::StepStarted if by_attendance => (ATTENDED, "attended"),
        ActivityKind::StepStarted => (ATTEMPTED, "attempted"),
        ActivityKind::StepFailed => (FAILED, "failed"),
        ActivityKind::StepReopened => (REOPENED, "reopened"),
        ActivityKind::PathwayVersionMoved => return None,
    })
}

/// The statement of `activity` on `enrolment`, as JSON (checked and stored like any other).
pub fn statement(
    tenant: &str,
    home_page: &str,
    enrolment: &Enrolment,
    activity: &Activity,
) -> Option<Value> {
    let (verb, display) = verb(activity)?;
    let pathway = format!("urn:lms:pathway:{}", enrolment.pathway_id);
    let mut statement = json!({
        "id": statement_id(tenant, &activity.id),
        "actor": {"objectType": "Agent", "account": {"homePage": home_page, "name": enrolment.learner}},
        "verb": {"id": verb, "display": {"en": display}},
        "object": {
            "objectType": "Activity",
            "id": step_activity_id(enrolment.pathway_id.as_str(), &activity.step_id),
            "definition": {"type": "http://adlnet.gov/expapi/activities/module"},
        },
        "context": {
            "registration": registration(tenant, enrolment.id.as_str()),
            "contextActivities": {"parent": [{
                "objectType": "Activity",
                "id": pathway,
                "definition": {"type": "http://adlnet.gov/expapi/activities/course"},
            }]},
            "platform": "LMS suite",
            "extensions": {
                SOURCE_EXTENSION: activity.source.as_str(),
                RECORDED_BY_EXTENSION: activity.actor,
            },
        },
        "timestamp": timestamp(activity.recorded_at),
    });
    if let Some(result) = result(activity) {
        statement["result"] = result;
    }
    Some(statement)
}

fn result(activity: &Activity) -> Option<Value> {
    let mut result = serde_json::Map::new();
    match activity.kind {
        ActivityKind::StepCompleted => {
            result.insert("completion".into(), Value::Bool(true));
        }
        ActivityKind::StepFailed => {
            result.insert("success".into(), Value::Bool(false));
        }
        _ => {}
    }
    if activity.source == ActivitySource::AssessmentOutcome {
        let passed = activity.kind != ActivityKind::StepFailed;
        result.insert("success".into(), Value::Bool(passed));
        if activity.max_score > 0.0 {
            let raw = activity.score.clamp(0.0, activity.max_score);
            result.insert(
                "score".into(),
                json!({"raw": raw, "min": 0.0, "max": activity.max_score,
                       "scaled": raw / activity.max_score}),
            );
        }
    }
    if !activity.note.is_empty() {
        result.insert("response".into(), Value::String(activity.note.clone()));
    }
    (!result.is_empty()).then_some(Value::Object(result))
}

fn timestamp(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::xapi::{Version, check_request};

    fn enrolment() -> Enrolment {
        Enrolment {
            id: "0193a0c4-7e0b-7f3e-9d2c-1a2b3c4d5e6f".into(),
            learner: "ada".into(),
            pathway_id: "p1".into(),
            pathway_version: 1,
            status: crate::domain::enrolment::EnrolmentStatus::Active,
            requirement: "MANDATORY".into(),
            assigned_at: NaiveDateTime::default(),
            due_at: None,
            completed_at: None,
            source_revision: 1,
        }
    }

    fn activity(kind: ActivityKind, source: ActivitySource) -> Activity {
        Activity {
            score: 8.0,
            max_score: 10.0,
            ..Activity::new(
                enrolment().id,
                "s1".into(),
                kind,
                source,
                "ada".into(),
                NaiveDateTime::default(),
            )
        }
    }

    #[test]
    fn every_activity_is_a_valid_statement_with_a_stable_id() {
        let passed = activity(
            ActivityKind::StepCompleted,
            ActivitySource::AssessmentOutcome,
        );
        let made = statement("acme", "urn:lms:tenant:acme", &enrolment(), &passed).unwrap();
        assert!(check_request(&made, None, Version::V1).is_ok(), "{made}");
        assert_eq!(made["id"], json!(statement_id("acme", &passed.id)));
        assert_eq!(
            made,
            statement("acme", "urn:lms:tenant:acme", &enrolment(), &passed).unwrap()
        );
        assert_ne!(
            statement_id("acme", &passed.id),
            statement_id("globex", &passed.id)
        );
        assert_eq!(made["verb"]["id"], json!(PASSED));
        assert_eq!(made["result"]["score"]["scaled"], json!(0.8));
        assert_eq!(
            made["context"]["registration"],
            json!("0193a0c4-7e0b-7f3e-9d2c-1a2b3c4d5e6f")
        );
        for (kind, source, verb) in [
            (
                ActivityKind::StepStarted,
                ActivitySource::Learner,
                ATTEMPTED,
            ),
            (
                ActivityKind::StepCompleted,
                ActivitySource::Learner,
                COMPLETED,
            ),
            (
                ActivityKind::StepFailed,
                ActivitySource::AssessmentOutcome,
                FAILED,
            ),
            (
                ActivityKind::StepCompleted,
                ActivitySource::InstructorAttendance,
                ATTENDED,
            ),
            (
                ActivityKind::StepReopened,
                ActivitySource::InstructorAttendance,
                REOPENED,
            ),
        ] {
            let made = statement(
                "acme",
                "urn:lms:tenant:acme",
                &enrolment(),
                &activity(kind, source),
            )
            .unwrap();
            assert_eq!(made["verb"]["id"], json!(verb));
            assert!(check_request(&made, None, Version::V1).is_ok(), "{made}");
        }
        let moved = activity(
            ActivityKind::PathwayVersionMoved,
            ActivitySource::AdminEntry,
        );
        assert!(statement("acme", "urn:lms:tenant:acme", &enrolment(), &moved).is_none());
    }
}
