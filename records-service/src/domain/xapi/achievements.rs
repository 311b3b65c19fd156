//! Certifications and manual records as xAPI statements, beside the step activities of
//! [`super::learner_record`]: a certification issued (`earned`) or revoked, and training done
//! elsewhere (`completed`, as an admin entered it). Ids are derived (UUID v5), so each is
//! always the same statement. A manual record is changeable while statements are not: each
//! revision is its own statement, and a change or deletion voids the revision before it.

use chrono::{NaiveDateTime, SecondsFormat};
use serde_json::{Value, json};

use super::learner_record::{RECORDED_BY_EXTENSION, SOURCE_EXTENSION, registration};
use crate::domain::certification::Certification;
use crate::domain::manual::ManualRecord;

/// Where these statements' ids come from (UUID v5 namespace; random, fixed).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x2b7e_91c4_5d03_4f6a_8e1b_7c90_d4a2_13f5);

/// A certificate or badge earned (the Tin Can registry's verb).
pub const EARNED: &str = "http://id.tincanapi.com/verb/earned";
/// A certification withdrawn by an admin: no registry verb says it.
pub const REVOKED: &str = "urn:lms:verbs:revoked";
pub const COMPLETED: &str = "http://adlnet.gov/expapi/verbs/completed";
pub const VOIDED: &str = "http://adlnet.gov/expapi/verbs/voided";
pub const CERTIFICATION_TYPE: &str = "urn:lms:activity-types:certification";
pub const EXTERNAL_TRAINING_TYPE: &str = "urn:lms:activity-types:external-training";
/// The training's provider, for a manual record.
pub const PROVIDER_EXTENSION: &str = "urn:lms:xapi:provider";
/// The certification's cycle (1, 2, … as it is renewed) and expiry.
pub const CYCLE_EXTENSION: &str = "urn:lms:xapi:certification-cycle";
pub const EXPIRES_EXTENSION: &str = "urn:lms:xapi:certification-expires";

fn id(kind: &str, tenant: &str, key: &str) -> String {
    uuid::Uuid::new_v5(&NAMESPACE, format!("{kind}:{tenant}:{key}").as_bytes()).to_string()
}

fn timestamp(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn learner(home_page: &str, learner: &str) -> Value {
    json!({"objectType": "Agent", "account": {"homePage": home_page, "name": learner}})
}

/// The activity a pathway's certification is (`urn:lms:pathway:<id>:certification`).
pub fn certification_activity_id(pathway_id: &str) -> String {
    format!("urn:lms:pathway:{pathway_id}:certification")
}

fn certification_object(c: &Certification) -> Value {
    json!({
        "objectType": "Activity",
        "id": certification_activity_id(c.pathway_id.as_str()),
        "definition": {
            "type": CERTIFICATION_TYPE,
            "name": {"und": c.pathway_title},
        },
    })
}

fn certification_context(tenant: &str, c: &Certification, recorded_by: &str) -> Value {
    let pathway = format!("urn:lms:pathway:{}", c.pathway_id);
    let mut extensions = json!({
        SOURCE_EXTENSION: "CERTIFICATION",
        RECORDED_BY_EXTENSION: recorded_by,
        CYCLE_EXTENSION: c.cycle,
    });
    if let Some(expires) = c.expires_at {
        extensions[EXPIRES_EXTENSION] = json!(timestamp(expires));
    }
    json!({
        "registration": registration(tenant, c.enrolment_id.as_str()),
        "contextActivities": {"parent": [{"objectType": "Activity", "id": pathway}]},
        "platform": "LMS suite",
        "extensions": extensions,
    })
}

/// `earned`: the certification issued when its pathway was completed.
pub fn certification_issued(tenant: &str, home_page: &str, c: &Certification) -> Value {
    json!({
        "id": id("certification", tenant, &c.id),
        "actor": learner(home_page, &c.learner),
        "verb": {"id": EARNED, "display": {"en": "earned"}},
        "object": certification_object(c),
        "result": {"success": true, "completion": true},
        "context": certification_context(tenant, c, crate::NAME),
        "timestamp": timestamp(c.issued_at),
    })
}

/// `revoked`: an admin withdrew the certification (`c` as revoked: reason, by, when).
pub fn certification_revoked(tenant: &str, home_page: &str, c: &Certification) -> Value {
    let mut statement = json!({
        "id": id("certification-revoked", tenant, &c.id),
        "actor": learner(home_page, &c.learner),
        "verb": {"id": REVOKED, "display": {"en": "had revoked"}},
        "object": certification_object(c),
        "result": {"success": false},
        "context": certification_context(tenant, c, &c.revoked_by),
        "timestamp": timestamp(c.revoked_at.unwrap_or(c.issued_at)),
    });
    if !c.revoke_reason.is_empty() {
        statement["result"]["response"] = json!(c.revoke_reason);
    }
    statement
}

/// The statement id of a manual record's `revision`.
pub fn manual_record_statement_id(tenant: &str, record_id: &str, revision: i64) -> String {
    id("manual-record", tenant, &format!("{record_id}:{revision}"))
}

/// `completed`: training done elsewhere, as the record's revision says (when, how long, where).
pub fn manual_record(tenant: &str, home_page: &str, r: &ManualRecord, by: &str) -> Value {
    let mut extensions = json!({SOURCE_EXTENSION: "MANUAL_RECORD", RECORDED_BY_EXTENSION: by});
    if !r.provider.is_empty() {
        extensions[PROVIDER_EXTENSION] = json!(r.provider);
    }
    let mut result = json!({"completion": true});
    if r.hours > 0.0 {
        result["duration"] = json!(format!("PT{}S", (r.hours * 3600.0).round() as i64));
    }
    if !r.evidence_url.is_empty() {
        result["response"] = json!(r.evidence_url);
    }
    json!({
        "id": manual_record_statement_id(tenant, &r.id, r.revision),
        "actor": learner(home_page, &r.learner),
        "verb": {"id": COMPLETED, "display": {"en": "completed"}},
        "object": {
            "objectType": "Activity",
            "id": format!("urn:lms:manual-record:{}", r.id),
            "definition": {"type": EXTERNAL_TRAINING_TYPE, "name": {"und": r.title}},
        },
        "result": result,
        "context": {"platform": "LMS suite", "extensions": extensions},
        "timestamp": timestamp(r.completed_at),
    })
}

/// Voids the statement of a manual record's `revision` (changed or deleted by `by`).
pub fn manual_record_voided(
    tenant: &str,
    home_page: &str,
    record_id: &str,
    revision: i64,
    by: &str,
    at: NaiveDateTime,
) -> Value {
    json!({
        "id": id("manual-record-void", tenant, &format!("{record_id}:{revision}")),
        "actor": learner(home_page, by),
        "verb": {"id": VOIDED, "display": {"en": "voided"}},
        "object": {
            "objectType": "StatementRef",
            "id": manual_record_statement_id(tenant, record_id, revision),
        },
        "timestamp": timestamp(at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::xapi::{Version, check_request};

    fn certification() -> Certification {
        Certification {
            id: "c1".into(),
            tenant_id: lms_platform::ids::TenantId::parse("acme").unwrap(),
            learner: "ada".into(),
            pathway_id: "p1".into(),
            pathway_title: "Forklift".into(),
            pathway_version: 1,
            enrolment_id: "0193a0c4-7e0b-7f3e-9d2c-1a2b3c4d5e6f".into(),
            cycle: 2,
            completed_at: NaiveDateTime::default(),
            issued_at: NaiveDateTime::default(),
            expires_at: Some(NaiveDateTime::default()),
            window_days: 30,
            grace_days: 0,
            verification_code: "SECRET".into(),
            revoked_at: Some(NaiveDateTime::default()),
            revoke_reason: "issued in error".into(),
            revoked_by: "admin@acme".into(),
            expiring_announced_at: None,
        }
    }

    fn record() -> ManualRecord {
        ManualRecord {
            id: "m1".into(),
            tenant_id: lms_platform::ids::TenantId::parse("acme").unwrap(),
            learner: "ada".into(),
            title: "First aid".into(),
            provider: "Red Cross".into(),
            completed_at: NaiveDateTime::default(),
            hours: 1.5,
            evidence_url: "https://example.com/cert.pdf".into(),
            revision: 2,
            created_at: NaiveDateTime::default(),
            created_by: "admin@acme".into(),
            deleted_at: None,
        }
    }

    #[test]
    fn each_is_a_valid_statement_with_a_stable_id() {
        let c = certification();
        let home = "urn:lms:tenant:acme";
        let made = [
            certification_issued("acme", home, &c),
            certification_revoked("acme", home, &c),
            manual_record("acme", home, &record(), "admin@acme"),
            manual_record_voided(
                "acme",
                home,
                "m1",
                1,
                "admin@acme",
                NaiveDateTime::default(),
            ),
        ];
        for statement in &made {
            let checked = check_request(statement, None, Version::V1);
            assert!(checked.is_ok(), "{statement}: {:?}", checked.err());
        }
        assert_eq!(made[0], certification_issued("acme", home, &c));
        assert_ne!(
            made[0]["id"],
            certification_issued("globex", home, &c)["id"]
        );
        assert_eq!(made[1]["result"]["response"], "issued in error");
        assert_eq!(made[2]["result"]["duration"], "PT5400S");
        assert_eq!(
            made[2]["id"],
            json!(manual_record_statement_id("acme", "m1", 2))
        );
        assert_eq!(
            made[3]["object"]["id"],
            json!(manual_record_statement_id("acme", "m1", 1))
        );
        assert!(
            !made[0].to_string().contains("SECRET"),
            "the verification code stays out"
        );
    }
}
