//! cmi5 (the "Quartz" edition, with the cmi5 test suite's statuses): what the LMS tells an
//! assignable unit (AU) at launch, the statements it issues itself, and the rules an AU's
//! statements must keep, checked one by one against the session and the registration.
//!
//! The AU's `activityId` is the step's own activity id in the learner record
//! (`urn:lms:pathway:<pathway>:step:<step>`): unique per AU, the same for every launch and
//! registration, and never the publisher's id (cmi5 8.1), which goes in `grouping`.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use lms_platform::text_enum;

pub const CATEGORY: &str = "https://w3id.org/xapi/cmi5/context/categories/cmi5";
pub const MOVE_ON_CATEGORY: &str = "https://w3id.org/xapi/cmi5/context/categories/moveon";
pub const SESSION_ID: &str = "https://w3id.org/xapi/cmi5/context/extensions/sessionid";
pub const LAUNCH_MODE: &str = "https://w3id.org/xapi/cmi5/context/extensions/launchmode";
pub const LAUNCH_URL: &str = "https://w3id.org/xapi/cmi5/context/extensions/launchurl";
pub const MOVE_ON: &str = "https://w3id.org/xapi/cmi5/context/extensions/moveon";
pub const MASTERY_SCORE: &str = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore";
pub const LAUNCH_PARAMETERS: &str =
    "https://w3id.org/xapi/cmi5/context/extensions/launchparameters";
pub const REASON: &str = "https://w3id.org/xapi/cmi5/result/extensions/reason";
pub const COURSE_TYPE: &str = "https://w3id.org/xapi/cmi5/activitytype/course";
pub const BLOCK_TYPE: &str = "https://w3id.org/xapi/cmi5/activitytype/block";

pub const LAUNCHED: &str = "http://adlnet.gov/expapi/verbs/launched";
pub const INITIALIZED: &str = "http://adlnet.gov/expapi/verbs/initialized";
pub const COMPLETED: &str = "http://adlnet.gov/expapi/verbs/completed";
pub const PASSED: &str = "http://adlnet.gov/expapi/verbs/passed";
pub const FAILED: &str = "http://adlnet.gov/expapi/verbs/failed";
pub const TERMINATED: &str = "http://adlnet.gov/expapi/verbs/terminated";
pub const ABANDONED: &str = "https://w3id.org/xapi/adl/verbs/abandoned";
pub const WAIVED: &str = "https://w3id.org/xapi/adl/verbs/waived";
pub const SATISFIED: &str = "https://w3id.org/xapi/adl/verbs/satisfied";
const VOIDED: &str = "http://adlnet.gov/expapi/verbs/voided";

/// The state document the LMS writes before each launch (cmi5 10).
pub const LAUNCH_DATA: &str = "LMS.LaunchData";

text_enum!(MoveOn {
    Passed = "Passed",
    Completed = "Completed",
    CompletedAndPassed = "CompletedAndPassed",
    CompletedOrPassed = "CompletedOrPassed",
    NotApplicable = "NotApplicable",
});

/// What records-service keeps of a content step that is a cmi5 AU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cmi5Unit {
    /// The AU's launch URL (the step's).
    pub url: String,
    /// The publisher's id of the AU.
    pub publisher_id: String,
    /// The publisher's id of its course, or empty.
    pub course_id: String,
    pub move_on: MoveOn,
    pub mastery_score: Option<f64>,
    pub own_window: bool,
    pub launch_parameters: String,
    pub entitlement_key: String,
    /// The publisher's ids of the blocks it is in, outermost first.
    #[serde(default)]
    pub block_ids: Vec<String>,
}

impl Eq for Cmi5Unit {}

/// What the AU has achieved in a registration (kept across its sessions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitState {
    pub completed: bool,
    pub passed: bool,
}

impl UnitState {
    /// The AU's moveOn criteria are met.
    pub fn satisfies(self, move_on: MoveOn) -> bool {
        match move_on {
            MoveOn::Passed => self.passed,
            MoveOn::Completed => self.completed,
            MoveOn::CompletedAndPassed => self.completed && self.passed,
            MoveOn::CompletedOrPassed => self.completed || self.passed,
            MoveOn::NotApplicable => true,
        }
    }
}

/// How long a session still takes statements after its `terminated` arrives (cmi5 9.3.8: the
/// LMS waits a period of its choosing, then rejects every statement of the session): a
/// statement the AU sent just before `terminated` may arrive just after it. Only statements
/// timestamped no later than `terminated` are taken then (it must be the last, 9.3).
pub const GRACE_AFTER_TERMINATED_SECONDS: i64 = 60;

/// A launch session as the rules see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    /// The cmi5 defined verbs the AU has sent in this session, in order.
    pub verbs: Vec<String>,
    /// The `timestamp` (UTC) of the session's `initialized`: no statement may be earlier.
    pub initialized_at: Option<NaiveDateTime>,
    /// The latest `timestamp` of the session's statements: `terminated` may not be earlier.
    pub latest_at: Option<NaiveDateTime>,
    /// The `timestamp` of the session's `terminated`: no statement may be later.
    pub terminated_at: Option<NaiveDateTime>,
}

impl SessionState {
    pub fn terminated(&self) -> bool {
        self.verbs.iter().any(|v| v == TERMINATED)
    }
}

/// Whether a session ended at `ended_at` (None: it has not) still takes statements at `now`:
/// an abandoned session takes none (cmi5 9.3.6), a terminated one for its grace period.
pub fn takes_statements(
    ended_at: Option<NaiveDateTime>,
    terminated: bool,
    now: NaiveDateTime,
) -> bool {
    match ended_at {
        None => true,
        Some(ended) => {
            terminated && now - ended <= chrono::TimeDelta::seconds(GRACE_AFTER_TERMINATED_SECONDS)
        }
    }
}

/// Who and what a session is about.
pub struct Launch<'a> {
    pub session_id: &'a str,
    pub registration: &'a str,
    /// The AU's `activityId` (the step's activity id).
    pub activity_id: &'a str,
    pub actor: &'a Value,
    pub unit: &'a Cmi5Unit,
}

/// The launch URL: the AU's URL with cmi5's parameters added to its own query (8.1).
pub fn launch_url(
    unit_url: &str,
    endpoint: &str,
    fetch: &str,
    launch: &Launch,
) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(unit_url)?;
    url.query_pairs_mut()
        .append_pair("endpoint", endpoint)
        .append_pair("fetch", fetch)
        .append_pair("actor", &launch.actor.to_string())
        .append_pair("registration", launch.registration)
        .append_pair("activityId", launch.activity_id);
    Ok(url.to_string())
}

/// The context every statement of the session carries (the launch data's template).
pub fn context_template(launch: &Launch) -> Value {
    json!({
        "contextActivities": {"grouping": [{"objectType": "Activity", "id": launch.unit.publisher_id}]},
        "extensions": {SESSION_ID: launch.session_id},
    })
}

/// `LMS.LaunchData` (cmi5 10).
pub fn launch_data(launch: &Launch, return_url: &str) -> Value {
    let unit = launch.unit;
    let mut data = json!({
        "contextTemplate": context_template(launch),
        "launchMode": "Normal",
        "launchMethod": if unit.own_window { "OwnWindow" } else { "AnyWindow" },
        "moveOn": unit.move_on.as_str(),
    });
    if let Some(score) = unit.mastery_score {
        data["masteryScore"] = json!(score);
    }
    if !unit.launch_parameters.is_empty() {
        data["launchParameters"] = json!(unit.launch_parameters);
    }
    if !unit.entitlement_key.is_empty() {
        data["entitlementKey"] = json!({"courseStructure": unit.entitlement_key});
    }
    if !return_url.is_empty() {
        data["returnURL"] = json!(return_url);
    }
    data
}

/// A statement the LMS issues about the AU, in the session's context (with the cmi5
/// category); `timestamp` as RFC 3339.
fn lms_statement(launch: &Launch, id: &str, verb: &str, display: &str, timestamp: &str) -> Value {
    let mut context = context_template(launch);
    context["registration"] = json!(launch.registration);
    context["contextActivities"]["category"] = json!([{"objectType": "Activity", "id": CATEGORY}]);
    json!({
        "id": id,
        "actor": launch.actor,
        "verb": {"id": verb, "display": {"en-US": display}},
        "object": {"objectType": "Activity", "id": launch.activity_id},
        "context": context,
        "timestamp": timestamp,
    })
}

/// `launched`, recorded before the AU is launched (9.3.1).
pub fn launched(launch: &Launch, id: &str, timestamp: &str) -> Value {
    let unit = launch.unit;
    let mut statement = lms_statement(launch, id, LAUNCHED, "launched", timestamp);
    let extensions = &mut statement["context"]["extensions"];
    extensions[LAUNCH_MODE] = json!("Normal");
    extensions[LAUNCH_URL] = json!(unit.url);
    extensions[MOVE_ON] = json!(unit.move_on.as_str());
    if let Some(score) = unit.mastery_score {
        extensions[MASTERY_SCORE] = json!(score);
    }
    if !unit.launch_parameters.is_empty() {
        extensions[LAUNCH_PARAMETERS] = json!(unit.launch_parameters);
    }
    statement
}

/// `abandoned`: the session ended without `terminated` (9.3.7); `duration` ISO 8601.
pub fn abandoned(launch: &Launch, id: &str, timestamp: &str, duration: &str) -> Value {
    let mut statement = lms_statement(launch, id, ABANDONED, "abandoned", timestamp);
    statement["result"] = json!({"duration": duration});
    statement
}

/// `waived` (9.3.8): in a session of its own, with the reason.
pub fn waived(launch: &Launch, id: &str, timestamp: &str, reason: &str) -> Value {
    let mut statement = lms_statement(launch, id, WAIVED, "waived", timestamp);
    statement["context"]["contextActivities"]["category"] = json!([
        {"objectType": "Activity", "id": CATEGORY},
        {"objectType": "Activity", "id": MOVE_ON_CATEGORY},
    ]);
    statement["result"] =
        json!({"success": true, "completion": true, "extensions": {REASON: reason}});
    statement
}

/// `satisfied` for the course (9.3.9): every AU of it on the pathway met its moveOn
/// criteria. `course_activity_id` is the LMS's id of the course, not the publisher's.
pub fn satisfied(launch: &Launch, id: &str, timestamp: &str, whole: &Whole) -> Value {
    let mut statement = lms_statement(launch, id, SATISFIED, "satisfied", timestamp);
    let kind = if whole.block { BLOCK_TYPE } else { COURSE_TYPE };
    statement["object"] = json!({
        "objectType": "Activity",
        "id": whole.activity_id,
        "definition": {"type": kind},
    });
    statement["context"]["contextActivities"]["grouping"] =
        json!([{"objectType": "Activity", "id": whole.publisher_id}]);
    statement
}

/// A block or course whose AUs on the pathway are all satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whole {
    /// The LMS's activity id of it (cmi5 9.3.9: not the publisher's).
    pub activity_id: String,
    /// The publisher's id (the course structure's).
    pub publisher_id: String,
    pub block: bool,
}

/// What an admitted statement does to the AU's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing the LMS acts on (initialized, a cmi5 allowed statement).
    None,
    /// The session ended.
    Terminated,
    /// Completion or passing: moveOn may now be met.
    Progressed,
}

/// Checks one statement the AU sends against cmi5's rules (7.1, 9), given the session and the
/// registration so far, and applies it to them. `Err` says which rule it breaks: the LRS
/// refuses it (403) and nothing of the request is stored.
pub fn admit(
    statement: &Map<String, Value>,
    launch: &Launch,
    session: &mut SessionState,
    unit: &mut UnitState,
) -> Result<Effect, String> {
    let verb = statement["verb"]["id"].as_str().unwrap_or_default();
    if verb == VOIDED {
        return Err("cmi5 content may not void statements (cmi5 6.3)".into());
    }
    // The launch's Agent (its account: an AU may add a name, or leave objectType out).
    let actor = &statement["actor"];
    if actor["account"] != launch.actor["account"]
        || !matches!(
            actor.get("objectType").and_then(Value::as_str),
            None | Some("Agent")
        )
    {
        return Err("the actor must be the launch's actor (9.2)".into());
    }
    let context = statement.get("context").cloned().unwrap_or(Value::Null);
    if context["registration"].as_str() != Some(launch.registration) {
        return Err("context.registration must be the launch's registration".into());
    }
    if context["extensions"][SESSION_ID].as_str() != Some(launch.session_id) {
        return Err(format!(
            "context.extensions must carry the session id {SESSION_ID} of this launch"
        ));
    }
    // Order within a session is the statements' timestamps' (cmi5 9.3), not their arrival's.
    let Some(timestamp) = statement
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(super::xapi::formats::timestamp)
        .map(|at| at.naive_utc())
    else {
        return Err("cmi5 statements must have a timestamp (cmi5 9.7)".into());
    };
    if session.terminated() && session.terminated_at.is_none() {
        // Terminated before timestamps were kept (an older version): judged by arrival.
        return Err("the session has ended with terminated: nothing more is recorded".into());
    }
    if session.terminated_at.is_some_and(|end| timestamp > end) {
        return Err(
            "its timestamp is after the session's terminated, which must be the last \
             statement (cmi5 9.3)"
                .into(),
        );
    }
    if session
        .initialized_at
        .is_some_and(|start| timestamp < start)
    {
        return Err(
            "its timestamp is before the session's initialized, which must be the first \
             statement (cmi5 9.3)"
                .into(),
        );
    }
    let categories = ids(&context["contextActivities"]["category"]);
    let defined = categories.contains(&CATEGORY);
    let move_on_category = categories.contains(&MOVE_ON_CATEGORY);
    let opens = defined && verb == INITIALIZED;
    if !opens && !session.verbs.iter().any(|v| v == INITIALIZED) {
        return Err("the first statement of a session must be initialized (cmi5 9.3.2)".into());
    }
    if !defined {
        // cmi5 allowed: between initialized and terminated, outside the moveOn rules.
        if move_on_category {
            return Err("only cmi5 defined statements carry the moveOn category (9.6.2.2)".into());
        }
        session.latest_at = session.latest_at.max(Some(timestamp));
        return Ok(Effect::None);
    }
    if !matches!(verb, INITIALIZED | COMPLETED | PASSED | FAILED | TERMINATED) {
        return Err(format!(
            "{verb} is not a verb an AU sends with the cmi5 category (9.3)"
        ));
    }
    if statement["object"]["id"].as_str() != Some(launch.activity_id) {
        return Err("the object must be the launch's activityId (9.4)".into());
    }
    if !ids(&context["contextActivities"]["grouping"]).contains(&launch.unit.publisher_id.as_str())
    {
        return Err("context.contextActivities.grouping must hold the AU's id (9.6.2.3)".into());
    }
    if session.verbs.iter().any(|v| v == verb) {
        return Err(format!("{verb} was already sent in this session (9.3)"));
    }
    let result = statement.get("result").cloned().unwrap_or(Value::Null);
    check_result(
        verb,
        &result,
        move_on_category,
        launch.unit.mastery_score,
        &context,
    )?;
    let judged = session.verbs.iter().any(|v| v == PASSED || v == FAILED);
    let effect = match verb {
        COMPLETED if unit.completed => {
            return Err("the AU was already completed in this registration (9.3.3)".into());
        }
        PASSED | FAILED if judged => {
            return Err("a session holds one passed or failed (9.3)".into());
        }
        PASSED if unit.passed => {
            return Err("the AU was already passed in this registration (9.3.4)".into());
        }
        FAILED if unit.passed => {
            return Err("failed cannot follow passed in a registration (9.3.5)".into());
        }
        COMPLETED => {
            unit.completed = true;
            Effect::Progressed
        }
        PASSED => {
            unit.passed = true;
            Effect::Progressed
        }
        TERMINATED if session.latest_at.is_some_and(|latest| timestamp < latest) => {
            return Err(
                "terminated must be the last statement (cmi5 9.3): its timestamp is before \
                 one the session sent"
                    .into(),
            );
        }
        TERMINATED => {
            session.terminated_at = Some(timestamp);
            Effect::Terminated
        }
        INITIALIZED => {
            session.initialized_at = Some(timestamp);
            Effect::None
        }
        _ => Effect::None,
    };
    session.latest_at = session.latest_at.max(Some(timestamp));
    session.verbs.push(verb.to_string());
    Ok(effect)
}

/// The result rules of cmi5 9.5 for a cmi5 defined statement with `verb`.
fn check_result(
    verb: &str,
    result: &Value,
    move_on_category: bool,
    mastery_score: Option<f64>,
    context: &Value,
) -> Result<(), String> {
    let success = result.get("success").and_then(Value::as_bool);
    let completion = result.get("completion").and_then(Value::as_bool);
    let judged = matches!(verb, PASSED | FAILED);
    let wanted_success = match verb {
        PASSED => Some(true),
        FAILED => Some(false),
        _ => None,
    };
    if success != wanted_success {
        return Err(match wanted_success {
            Some(value) => format!("{verb} must have result.success {value} (9.5.2)"),
            None => format!("{verb} must not have result.success (9.5.2)"),
        });
    }
    if completion != (verb == COMPLETED).then_some(true) {
        return Err(match verb {
            COMPLETED => "completed must have result.completion true (9.5.3)".into(),
            _ => format!("{verb} must not have result.completion (9.5.3)"),
        });
    }
    if move_on_category != matches!(verb, COMPLETED | PASSED | FAILED) {
        return Err(if move_on_category {
            format!("{verb} must not carry the moveOn category (9.6.2.2)")
        } else {
            format!("{verb} must carry the moveOn category (9.6.2.2)")
        });
    }
    if result.get("score").is_some() && !judged {
        return Err(format!("{verb} must not have a score (9.5.1)"));
    }
    if matches!(verb, COMPLETED | PASSED | FAILED | TERMINATED) && result.get("duration").is_none()
    {
        return Err(format!("{verb} must have result.duration (9.5.4)"));
    }
    if let (true, Some(mastery)) = (judged, mastery_score) {
        let scaled = result["score"]["scaled"].as_f64().ok_or_else(|| {
            format!("{verb} must have result.score.scaled: the AU has a masteryScore (9.5.1)")
        })?;
        if verb == PASSED && scaled < mastery {
            return Err(format!(
                "passed needs a scaled score of at least the masteryScore {mastery}"
            ));
        }
        if verb == FAILED && scaled >= mastery {
            return Err(format!(
                "failed needs a scaled score below the masteryScore {mastery}"
            ));
        }
        if context["extensions"][MASTERY_SCORE].as_f64() != Some(mastery) {
            return Err(format!(
                "{verb} must carry the masteryScore {mastery} in {MASTERY_SCORE} (9.6.3.2)"
            ));
        }
    }
    Ok(())
}

/// The `id`s of an array of activities.
fn ids(activities: &Value) -> Vec<&str> {
    activities
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str())
        .collect()
}

/// An ISO 8601 duration of `millis` milliseconds (`PT12.345S`).
pub fn duration(millis: i64) -> String {
    let millis = millis.max(0);
    format!("PT{}.{:03}S", millis / 1000, millis % 1000)
}

#[cfg(test)]
#[path = "cmi5_tests.rs"]
mod tests;
