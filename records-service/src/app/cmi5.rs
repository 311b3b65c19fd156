//! cmi5 launches: opening a session of an assignable unit (AU) for its learner, the one-time
//! fetch of the session's LRS credential, and the rules the AU's statements must keep —
//! checked in the transaction that stores them, which also completes the step once the AU's
//! moveOn criteria are met (see `domain::cmi5`).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{NaiveDateTime, SecondsFormat};
use lms_platform::auth::Call;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, TenantId};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, Role, audit};
use serde_json::{Map, Value};

use super::learner_statements::store_lms_statements;
use super::progress::{follow_up, refusal};
use super::snapshots::Snapshots;
use super::xapi::home_page;
use super::{RecordsApp, lock_enrolment, view, visible_enrolment};
use crate::domain::activity::{Activity, ActivityKind, ActivitySource};
use crate::domain::cmi5::{self as rules, Cmi5Unit, Effect, Launch, MoveOn, UnitState, Whole};
use crate::domain::enrolment::{Enrolment, EnrolmentStatus};
use crate::domain::pathway::PathwaySnapshot;
use crate::domain::progress::StepState;
use crate::domain::secrets::{matches, new_secret, secret_hash};
use crate::domain::xapi::documents::{DocumentKind, etag};
use crate::domain::xapi::{account_agent, agent, learner_record};
use crate::storage::cmi5::{self as rows, SessionRow};
use crate::storage::{activities, xapi_documents};

/// The subject a session's credential acts as.
const SESSION_SUBJECT: &str = "cmi5-session:";
/// The key prefix of a session's Basic credential (LRS clients' keys start `lrs_`).
pub const SESSION_KEY: &str = "cmi5_";

/// The session a principal is the credential of, if it is one.
pub fn session_of(who: &Principal) -> Option<&str> {
    who.subject.strip_prefix(SESSION_SUBJECT)
}

/// A launch, as the portal opens it.
pub struct Cmi5Launch {
    pub launch_url: String,
    pub session_id: String,
    pub registration: String,
    pub activity_id: String,
    pub own_window: bool,
}

/// Why a fetch URL gave no credential (cmi5 8.2.3's error codes).
#[derive(Debug, PartialEq, Eq)]
pub enum FetchRefusal {
    /// 1: used already, or its session has ended.
    AlreadyUsed,
    /// 2: not a token of any session.
    Unknown,
}

/// What a session is about: the enrolment, the step's AU, and the learner as an Agent.
struct SessionScope {
    enrolment: Enrolment,
    pathway: Arc<PathwaySnapshot>,
    step_id: String,
    unit: Cmi5Unit,
    actor: Value,
    registration: String,
    activity_id: String,
}

impl SessionScope {
    fn launch<'a>(&'a self, session_id: &'a str) -> Launch<'a> {
        Launch {
            session_id,
            registration: &self.registration,
            activity_id: &self.activity_id,
            actor: &self.actor,
            unit: &self.unit,
        }
    }
}

/// The enrolment's step as a cmi5 AU, its version from `kept` (parsed once per process:
/// a session's requests need the AU, not the enrolment's progress).
fn scope_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    kept: &Snapshots,
    enrolment: Enrolment,
    step_id: &str,
) -> AppResult<SessionScope> {
    let (id, version) = (enrolment.pathway_id.as_str(), enrolment.pathway_version);
    let pathway = kept.get(conn, tenant, id, version)?.ok_or_else(|| {
        AppError::Unavailable("this enrolment's pathway version is not cached yet; retry".into())
    })?;
    scope_in(tenant, enrolment, pathway, step_id)
}

/// The step of `pathway` (the enrolment's version) as a cmi5 AU, or FAILED_PRECONDITION.
fn scope_in(
    tenant: &TenantId,
    enrolment: Enrolment,
    pathway: Arc<PathwaySnapshot>,
    step_id: &str,
) -> AppResult<SessionScope> {
    let unit = pathway
        .step(step_id)
        .and_then(|s| s.cmi5.clone())
        .ok_or_else(|| {
            AppError::FailedPrecondition(format!("step {step_id} is not a cmi5 assignable unit"))
        })?;
    Ok(SessionScope {
        actor: account_agent(&home_page(tenant), &enrolment.learner),
        registration: learner_record::registration(tenant.as_str(), enrolment.id.as_str()),
        activity_id: learner_record::step_activity_id(enrolment.pathway_id.as_str(), step_id),
        enrolment,
        pathway,
        step_id: step_id.to_string(),
        unit,
    })
}

fn timestamp(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn new_statement_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl RecordsApp {
    /// Opens a session of a cmi5 step for the enrolment's learner (the caller): its launch
    /// data and `launched` statement are stored before the URL is handed out; sessions of the
    /// enrolment left open are abandoned; the step is started (and, for an AU whose moveOn is
    /// NotApplicable, completed).
    pub async fn launch_assignable_unit(
        &self,
        who: &Principal,
        enrolment_id: EnrolmentId,
        step_id: String,
        return_url: String,
    ) -> AppResult<Cmi5Launch> {
        let who = who.clone();
        let public_url = self.public_url.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                lock_enrolment(conn, &tenant, enrolment_id.as_str())?;
                let enrolment = visible_enrolment(conn, &who, &enrolment_id)?;
                if enrolment.learner != who.subject {
                    return Err(AppError::PermissionDenied(
                        "only the enrolment's learner launches its content".into(),
                    ));
                }
                if enrolment.status != EnrolmentStatus::Active {
                    return Err(AppError::FailedPrecondition(format!(
                        "the enrolment is {}; its content cannot be launched",
                        enrolment.status.as_str().to_lowercase()
                    )));
                }
                let before = view(conn, &tenant, enrolment.clone())?;
                let step = before.progress.step(&step_id).ok_or_else(|| {
                    AppError::invalid_field("step_id", "is not a step of the enrolment's pathway")
                })?;
                if matches!(step.state, StepState::Locked | StepState::Blocked) {
                    return Err(refusal(step));
                }
                let completed = step.state == StepState::Completed;
                let first = !before.any_activity;
                let scope = scope_in(&tenant, enrolment, before.pathway, &step_id)?;
                let at = now();
                abandon_open_sessions(conn, &tenant, &scope, at)?;
                let session_id = uuid::Uuid::new_v4().to_string();
                let fetch_secret = new_secret();
                rows::insert(
                    conn,
                    &SessionRow {
                        id: session_id.clone(),
                        tenant_id: tenant.to_string(),
                        enrolment_id: scope.enrolment.id.to_string(),
                        step_id: step_id.clone(),
                        fetch_hash: secret_hash(&fetch_secret),
                        auth_hash: None,
                        verbs: String::new(),
                        launched_at: at,
                        last_statement_at: None,
                        ended_at: None,
                        initialized_timestamp: None,
                        latest_timestamp: None,
                        terminated_timestamp: None,
                    },
                )?;
                let launch = scope.launch(&session_id);
                write_launch_data(conn, &tenant, &launch, &return_url, at)?;
                let launched = rules::launched(&launch, &new_statement_id(), &timestamp(at));
                store_lms_statements(conn, &tenant, vec![launched])?;
                if !completed {
                    let activity = Activity::new(
                        scope.enrolment.id.clone(),
                        step_id.clone(),
                        ActivityKind::StepStarted,
                        ActivitySource::ContentStatements,
                        who.subject.clone(),
                        at,
                    );
                    activities::insert(conn, &tenant, &activity)?;
                    follow_up(conn, &tenant, &scope.enrolment, first, at)?;
                }
                if scope.unit.move_on == MoveOn::NotApplicable {
                    let (state, satisfied_at) =
                        rows::unit(conn, &tenant, scope.enrolment.id.as_str(), &step_id)?;
                    if satisfied_at.is_none() {
                        satisfy(conn, &tenant, &scope, &session_id, state, at, None)?;
                    }
                }
                let resource = format!("enrolments/{}/steps/{step_id}", scope.enrolment.id);
                let launched =
                    serde_json::json!({"session_id": session_id, "activity_id": scope.activity_id});
                audit::record(conn, &who, audit::Change::acted(resource, &launched)?)?;
                let endpoint = format!("{public_url}/xapi/");
                let fetch = format!("{public_url}/cmi5/fetch/{session_id}.{fetch_secret}");
                let launch_url = rules::launch_url(&scope.unit.url, &endpoint, &fetch, &launch)
                    .map_err(|_| {
                        AppError::FailedPrecondition("the AU's launch URL is not a URL".into())
                    })?;
                Ok(Cmi5Launch {
                    launch_url,
                    registration: scope.registration.clone(),
                    activity_id: scope.activity_id.clone(),
                    own_window: scope.unit.own_window,
                    session_id,
                })
            })
            .await
    }

    /// The session's LRS credential (`base64(key:secret)`), the first time its fetch token is
    /// used while the session is open.
    pub async fn fetch_auth_token(&self, token: String) -> AppResult<Result<String, FetchRefusal>> {
        let Some((session_id, secret)) = token.split_once('.') else {
            return Ok(Err(FetchRefusal::Unknown));
        };
        let (session_id, secret) = (session_id.to_string(), secret.to_string());
        self.db
            .write(move |conn| {
                let Some(session) =
                    rows::by_id(conn, &session_id)?.filter(|s| matches(&secret, &s.fetch_hash))
                else {
                    return Ok(Err(FetchRefusal::Unknown));
                };
                let auth_secret = new_secret();
                if session.ended_at.is_some()
                    || !rows::set_fetched(conn, &session.id, &secret_hash(&auth_secret))?
                {
                    return Ok(Err(FetchRefusal::AlreadyUsed));
                }
                let credential = format!("{SESSION_KEY}{}:{auth_secret}", session.id);
                Ok(Ok(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    credential,
                )))
            })
            .await
    }

    /// The principal a session's credential stands for while the session is open: the
    /// `service` role in the session's tenant, whose store calls then keep cmi5's rules.
    pub async fn authenticate_cmi5_session(
        &self,
        session_id: String,
        secret: String,
        call: Call,
    ) -> AppResult<Principal> {
        let session = self
            .db
            .read_one(move |conn| rows::by_id(conn, &session_id))
            .await?
            .filter(|s| {
                s.auth_hash
                    .as_deref()
                    .is_some_and(|hash| matches(&secret, hash))
            })
            .ok_or_else(|| AppError::Unauthenticated("unknown cmi5 session credential".into()))?;
        // After terminated, for its grace period: statements sent before it may still arrive.
        if !rules::takes_statements(session.ended_at, session.state().terminated(), now()) {
            return Err(AppError::Unauthenticated(
                "the cmi5 session has ended (terminated or abandoned)".into(),
            ));
        }
        Ok(Principal {
            subject: format!("{SESSION_SUBJECT}{}", session.id),
            tenant_id: TenantId::parse(&session.tenant_id)?,
            roles: HashSet::from([Role::Service]),
            call,
        })
    }
}

/// Writes `LMS.LaunchData` for the session (cmi5 10), replacing the last launch's.
fn write_launch_data(
    conn: &mut DbConnection,
    tenant: &TenantId,
    launch: &Launch,
    return_url: &str,
    at: NaiveDateTime,
) -> AppResult<()> {
    let content = rules::launch_data(launch, return_url)
        .to_string()
        .into_bytes();
    let place = xapi_documents::Place {
        kind: DocumentKind::State.as_str(),
        activity_id: launch.activity_id.to_string(),
        agent: agent::query_identity(launch.actor)
            .map_err(|e| AppError::internal(anyhow::anyhow!(e)))?,
        registration: launch.registration.to_string(),
    };
    let document = xapi_documents::StoredDocument {
        document_id: rules::LAUNCH_DATA.to_string(),
        content_type: "application/json".to_string(),
        etag: etag(&content),
        content,
        updated_at: at,
    };
    xapi_documents::put(conn, tenant, &place, &document)
}

/// Ends the open sessions of the enrolment `launching` is on with `abandoned` (cmi5 9.3.7):
/// a new launch means the learner left them. Their duration runs from launch to the AU's last
/// statement.
fn abandon_open_sessions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    launching: &SessionScope,
    at: NaiveDateTime,
) -> AppResult<()> {
    let enrolment = &launching.enrolment;
    for session in rows::open_of(conn, tenant, enrolment.id.as_str())? {
        // A session of a step the enrolment's version no longer has as cmi5 (an admin moved
        // it to a newer version) just ends: there is no AU to say it of.
        let pathway = launching.pathway.clone();
        let Ok(scope) = scope_in(tenant, enrolment.clone(), pathway, &session.step_id) else {
            rows::end(conn, &session.id, at)?;
            continue;
        };
        let last = session.last_statement_at.unwrap_or(session.launched_at);
        let duration = rules::duration((last - session.launched_at).num_milliseconds());
        let statement = rules::abandoned(
            &scope.launch(&session.id),
            &new_statement_id(),
            &timestamp(at),
            &duration,
        );
        store_lms_statements(conn, tenant, vec![statement])?;
        rows::end(conn, &session.id, at)?;
    }
    Ok(())
}

/// Checks the statements a session's AU sends, in order, against cmi5's rules (403 for the
/// first that breaks one: nothing is stored), keeps what they change, and completes the step
/// when they meet its moveOn criteria. Runs in the transaction that stores them. Statements
/// stored already (a retried request) are the store's to compare, not new to the session.
pub(crate) fn admit_statements(
    conn: &mut DbConnection,
    tenant: &TenantId,
    kept: &Snapshots,
    session_id: &str,
    statements: &[(&str, &Map<String, Value>)],
) -> AppResult<()> {
    let session = rows::by_id(conn, session_id)?
        .filter(|s| s.tenant_id == tenant.as_str())
        .ok_or_else(|| AppError::Unauthenticated("unknown cmi5 session".into()))?;
    lock_enrolment(conn, tenant, &session.enrolment_id)?;
    let enrolment =
        crate::storage::enrolments::get(conn, tenant, &session.enrolment_id.clone().into())?;
    let scope = scope_of(conn, tenant, kept, enrolment, &session.step_id)?;
    let launch = scope.launch(&session.id);
    let mut state = session.state();
    let (before, satisfied_at) = rows::unit(conn, tenant, &session.enrolment_id, &session.step_id)?;
    let mut unit = before;
    let at = now();
    let mut ended = session.ended_at;
    for (index, (id, statement)) in statements.iter().enumerate() {
        if crate::storage::xapi_statements::get(conn, tenant, id)?.is_some() {
            continue;
        }
        if !rules::takes_statements(ended, state.terminated(), at) {
            return Err(AppError::PermissionDenied(format!(
                "statements[{index}]: the cmi5 session has ended"
            )));
        }
        match rules::admit(statement, &launch, &mut state, &mut unit) {
            Ok(Effect::Terminated) => ended = Some(at),
            Ok(Effect::None | Effect::Progressed) => {}
            Err(rule) => {
                return Err(AppError::PermissionDenied(format!(
                    "statements[{index}] breaks cmi5: {rule}"
                )));
            }
        }
    }
    rows::record_statements(conn, &session.id, &state, at, ended)?;
    if unit != before {
        if satisfied_at.is_none() && unit.satisfies(scope.unit.move_on) {
            satisfy(conn, tenant, &scope, &session.id, unit, at, None)?;
        } else {
            rows::save_unit(
                conn,
                tenant,
                &session.enrolment_id,
                &session.step_id,
                unit,
                satisfied_at,
            )?;
        }
    }
    Ok(())
}

/// The AU's moveOn criteria are met (or an admin waived it, `waived_by`): the unit is
/// satisfied, the step completed, and — when every AU of its course on the pathway is — the
/// course satisfied with a `satisfied` statement.
fn satisfy(
    conn: &mut DbConnection,
    tenant: &TenantId,
    scope: &SessionScope,
    session_id: &str,
    state: UnitState,
    at: NaiveDateTime,
    waived_by: Option<&str>,
) -> AppResult<()> {
    let enrolment_id = scope.enrolment.id.as_str();
    rows::save_unit(conn, tenant, enrolment_id, &scope.step_id, state, Some(at))?;
    let (source, actor) = match waived_by {
        Some(admin) => (ActivitySource::AdminEntry, admin.to_string()),
        None => (
            ActivitySource::ContentStatements,
            scope.enrolment.learner.clone(),
        ),
    };
    let completed = Activity::new(
        scope.enrolment.id.clone(),
        scope.step_id.clone(),
        ActivityKind::StepCompleted,
        source,
        actor,
        at,
    );
    activities::insert(conn, tenant, &completed)?;
    // Blocks (innermost first), then the course, each satisfied once every AU of it on the
    // pathway is (cmi5 9.3.9).
    let satisfied: HashSet<String> = rows::satisfied_steps(conn, tenant, enrolment_id)?
        .into_iter()
        .collect();
    let all_satisfied = |in_it: &dyn Fn(&Cmi5Unit) -> bool| {
        scope
            .pathway
            .steps
            .iter()
            .filter(|s| s.cmi5.as_ref().is_some_and(in_it))
            .all(|s| satisfied.contains(&s.id))
    };
    let pathway_id = scope.enrolment.pathway_id.as_str();
    let mut wholes: Vec<Whole> = Vec::new();
    for block in scope.unit.block_ids.iter().rev() {
        if all_satisfied(&|u: &Cmi5Unit| u.block_ids.contains(block)) {
            wholes.push(Whole {
                activity_id: learner_record::block_activity_id(pathway_id, block),
                publisher_id: block.clone(),
                block: true,
            });
        }
    }
    let course = &scope.unit.course_id;
    if !course.is_empty() && all_satisfied(&|u: &Cmi5Unit| &u.course_id == course) {
        wholes.push(Whole {
            activity_id: learner_record::course_activity_id(pathway_id, course),
            publisher_id: course.clone(),
            block: false,
        });
    }
    let statements = wholes
        .iter()
        .map(|whole| {
            let (id, at) = (new_statement_id(), timestamp(at));
            rules::satisfied(&scope.launch(session_id), &id, &at, whole)
        })
        .collect::<Vec<_>>();
    if !statements.is_empty() {
        store_lms_statements(conn, tenant, statements)?;
    }
    follow_up(conn, tenant, &scope.enrolment, false, at)?;
    Ok(())
}

/// An admin completes a cmi5 step for the learner: a `waived` statement (reason
/// "Administrative") in a session of its own (cmi5 9.3.8), and the step completed.
pub(crate) fn waive(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: &Enrolment,
    pathway: Arc<PathwaySnapshot>,
    step_id: &str,
    admin: &str,
    at: NaiveDateTime,
) -> AppResult<()> {
    let scope = scope_in(tenant, enrolment.clone(), pathway, step_id)?;
    let (state, satisfied_at) = rows::unit(conn, tenant, enrolment.id.as_str(), step_id)?;
    if satisfied_at.is_some() {
        return Ok(());
    }
    let session_id = uuid::Uuid::new_v4().to_string();
    let statement = rules::waived(
        &scope.launch(&session_id),
        &new_statement_id(),
        &timestamp(at),
        "Administrative",
    );
    store_lms_statements(conn, tenant, vec![statement])?;
    satisfy(conn, tenant, &scope, &session_id, state, at, Some(admin))
}

impl RecordsApp {
    /// For a session's credential, the identity key of the learner it acts for (its content
    /// reads and writes only theirs); None for every other caller.
    pub(crate) async fn confined_to(&self, who: &Principal) -> AppResult<Option<String>> {
        let Some(session_id) = session_of(who).map(str::to_string) else {
            return Ok(None);
        };
        let tenant = who.tenant_id.clone();
        let learner = self
            .db
            .read(move |conn| {
                let session = rows::by_id(conn, &session_id)?
                    .ok_or_else(|| AppError::Unauthenticated("unknown cmi5 session".into()))?;
                let enrolment_id = session.enrolment_id.into();
                Ok(crate::storage::enrolments::get(conn, &tenant, &enrolment_id)?.learner)
            })
            .await?;
        let actor = account_agent(&home_page(&who.tenant_id), &learner);
        agent::query_identity(&actor)
            .map(Some)
            .map_err(|e| AppError::internal(anyhow::anyhow!(e)))
    }

    /// Refuses a session's content a document not its learner's, or a change to its launch
    /// data (cmi5 10: the AU must not modify or delete it).
    pub(crate) async fn check_document_access(
        &self,
        who: &Principal,
        place: &xapi_documents::Place,
        id: Option<&str>,
        writing: bool,
    ) -> AppResult<()> {
        let Some(me) = self.confined_to(who).await? else {
            return Ok(());
        };
        if !place.agent.is_empty() && place.agent != me {
            return Err(AppError::PermissionDenied(
                "cmi5 content reads and writes only its learner's documents".into(),
            ));
        }
        let launch_data = place.kind == DocumentKind::State.as_str()
            && id.is_none_or(|id| id == rules::LAUNCH_DATA);
        if writing && launch_data {
            return Err(AppError::PermissionDenied(format!(
                "{} is the LMS's: content may not change or delete it (cmi5 10)",
                rules::LAUNCH_DATA
            )));
        }
        Ok(())
    }
}
