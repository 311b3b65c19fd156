//! Progress on enrolments, and recording what learners do.

use chrono::NaiveDateTime;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, TenantId};
use lms_platform::outbox;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, Role, audit, idempotency};

use super::certifications::issue_certification;
use super::cmi5;
use super::learner_statements::record_activity;
use super::snapshots::Snapshots;
use super::{ProgressView, RecordsApp, kept_view, lock_enrolment, view, views, visible_enrolment};
use crate::domain::activity::{Activity, ActivityKind, ActivitySource, NewActivity};
use crate::domain::enrolment::{Enrolment, EnrolmentStatus};
use crate::domain::pathway::StepKind;
use crate::domain::progress::{self as rules, StepProgress, StepReason, StepState};
use crate::events;
use crate::storage::{activities, enrolments};

impl RecordsApp {
    pub async fn get_progress(
        &self,
        who: &Principal,
        enrolment_id: EnrolmentId,
    ) -> AppResult<ProgressView> {
        let who = who.clone();
        let kept = self.snapshots.clone();
        self.db
            .read(move |conn| {
                let enrolment = visible_enrolment(conn, &who, &enrolment_id)?;
                Ok(kept_view(conn, &who.tenant_id, enrolment, &kept)?.0)
            })
            .await
    }

    /// Every current enrolment of a learner with its progress: overdue first, then by due date.
    pub async fn list_progress(
        &self,
        who: &Principal,
        learner: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<ProgressView>> {
        let learner = self.team_readable_learner(who, learner).await?;
        let limit = pagination::page_size(page_size)?;
        let filters = format!("learner={learner}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let snapshots = self.snapshots.clone();
        let mut all = self
            .db
            .read(move |conn| {
                let enrolments = enrolments::of_learner(conn, &tenant, &learner)?;
                views(conn, &tenant, enrolments, Some(&snapshots))
            })
            .await?;
        all.sort_by_key(sort_key);
        let start = match after {
            Some(after) => all
                .iter()
                .position(|v| sort_key(v) > after)
                .unwrap_or(all.len()),
            None => 0,
        };
        let items: Vec<ProgressView> = all
            .into_iter()
            .skip(start)
            .take(limit as usize + 1)
            .collect();
        Ok(paginate(items, limit, &filters, |v: &ProgressView| {
            vec![sort_key(v)]
        }))
    }

    /// Records a start or a completion on a step, if the step is the caller's to record and
    /// unlocked. Completing a completed step changes nothing.
    pub async fn record_activity(
        &self,
        who: &Principal,
        activity: NewActivity,
        request_id: Option<String>,
    ) -> AppResult<ProgressView> {
        let who = who.clone();
        // Request ids are the caller's own: two learners who happen to pick the same id must
        // both be recorded, and a replay answers with the enrolment the request was first
        // made for, read as the caller may see it.
        let operation = format!("RecordActivity/{}", who.subject);
        let kept = self.snapshots.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    &operation,
                    request_id.as_deref(),
                    |conn, recorded_enrolment| {
                        if activity.enrolment_id != recorded_enrolment {
                            return Err(AppError::invalid_field(
                                "request_id",
                                "was already used for another enrolment",
                            ));
                        }
                        let enrolment = visible_enrolment(conn, &who, &activity.enrolment_id)?;
                        Ok(kept_view(conn, &tenant, enrolment, &kept)?.0)
                    },
                    |conn| {
                        let result = record(conn, &who, &activity, &kept)?;
                        let resource = format!("enrolments/{}/activities", activity.enrolment_id);
                        audit::record(conn, &who, audit::Change::acted(resource, &activity)?)?;
                        Ok((activity.enrolment_id.clone(), result))
                    },
                )
            })
            .await
    }

    pub async fn list_activities(
        &self,
        who: &Principal,
        enrolment_id: EnrolmentId,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<Activity>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("enrolment={enrolment_id}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let who = who.clone();
        let items = self
            .db
            .read(move |conn| {
                visible_enrolment(conn, &who, &enrolment_id)?;
                let tenant = &who.tenant_id;
                activities::of_enrolment(conn, tenant, &enrolment_id, after, Some(limit + 1))
            })
            .await?;
        Ok(paginate(items, limit, &filters, |a: &Activity| {
            vec![a.id.clone()]
        }))
    }
}

/// The order of a learner's list: overdue, then in progress or not started, then completed;
/// each by due date.
fn sort_key(v: &ProgressView) -> String {
    let rank = match v.progress.status {
        rules::Status::Overdue => 0,
        rules::Status::InProgress | rules::Status::NotStarted => 1,
        rules::Status::Completed => 2,
    };
    let due = v
        .enrolment
        .due_at
        .map(|d| d.format("%Y%m%d%H%M%S").to_string())
        .unwrap_or_else(|| "99999999999999".into());
    format!("{rank}|{due}|{}", v.enrolment.id)
}

/// Writes one activity after checking who may record what, and emits what follows from it.
fn record(
    conn: &mut DbConnection,
    who: &Principal,
    activity: &NewActivity,
    kept: &Snapshots,
) -> AppResult<ProgressView> {
    let tenant = &who.tenant_id;
    lock_enrolment(conn, tenant, &activity.enrolment_id)?;
    let enrolment = visible_enrolment(conn, who, &activity.enrolment_id)?;
    if enrolment.status != EnrolmentStatus::Active {
        return Err(AppError::FailedPrecondition(format!(
            "the enrolment is {}; nothing can be recorded on it",
            enrolment.status.as_str().to_lowercase()
        )));
    }
    let (before, mut record) = kept_view(conn, tenant, enrolment.clone(), kept)?;
    let Some(step) = before.progress.step(&activity.step_id) else {
        return Err(AppError::invalid_field(
            "step_id",
            format!(
                "is not a step of pathway {} version {}",
                before.pathway.pathway_id, before.pathway.version
            ),
        ));
    };
    let staff = who.has_any(&[Role::Admin, Role::Instructor]);
    let learner_self = who.subject == enrolment.learner;
    if step.step.cmi5.is_some() {
        return record_cmi5(conn, who, &enrolment, step, activity, staff, &before);
    }
    let source = match (step.step.kind, staff, learner_self) {
        (StepKind::Assessment, _, _) if activity.completed => {
            return Err(AppError::FailedPrecondition(
                "an assessment step completes only from a passing assessment result".into(),
            ));
        }
        (StepKind::Content | StepKind::Acknowledgement | StepKind::Assessment, _, true) => {
            ActivitySource::Learner
        }
        (StepKind::TrainingSession, true, _) => {
            return Err(AppError::FailedPrecondition(format!(
                "attendance at “{}” is marked on the session the learner booked \
                 (MarkAttendance), once it has started",
                step.step.title
            )));
        }
        (StepKind::External, true, _) => ActivitySource::AdminEntry,
        (StepKind::Content | StepKind::Acknowledgement, true, false) => ActivitySource::AdminEntry,
        (StepKind::TrainingSession, false, _) => {
            return Err(AppError::PermissionDenied(
                "attendance at a training session is marked by an instructor or admin".into(),
            ));
        }
        (StepKind::External, false, _) => {
            return Err(AppError::PermissionDenied(
                "external steps complete when an instructor or admin approves the evidence you \
                 submit (SubmitEvidence)"
                    .into(),
            ));
        }
        _ => {
            return Err(AppError::PermissionDenied(
                "learners record only their own progress".into(),
            ));
        }
    };
    if step.state == StepState::Completed {
        return Ok(before);
    }
    let by_staff = matches!(
        source,
        ActivitySource::InstructorAttendance | ActivitySource::AdminEntry
    );
    match step.state {
        StepState::Available | StepState::Completed => {}
        // Attendance and evidence wait for staff, who record them here.
        StepState::Waiting if by_staff => {}
        StepState::Locked | StepState::Blocked | StepState::Waiting => {
            return Err(refusal(step));
        }
    }
    let first = !before.any_activity;
    let at = now();
    let kind = if activity.completed {
        ActivityKind::StepCompleted
    } else {
        ActivityKind::StepStarted
    };
    let recorded = Activity {
        evidence_url: activity.evidence_url.clone(),
        note: activity.note.clone(),
        ..Activity::new(
            enrolment.id.clone(),
            activity.step_id.clone(),
            kind,
            source,
            who.subject.clone(),
            at,
        )
    };
    record_activity(conn, tenant, &enrolment, &recorded)?;
    let after = before.with_recorded(&mut record, &recorded);
    follow_up_from(conn, tenant, &enrolment, first, at, after)
}

/// A cmi5 step completes from its content's statements (launched with LaunchAssignableUnit);
/// staff may waive it, which cmi5 records as `waived` (see `app::cmi5`).
fn record_cmi5(
    conn: &mut DbConnection,
    who: &Principal,
    enrolment: &Enrolment,
    step: &StepProgress,
    activity: &NewActivity,
    staff: bool,
    before: &ProgressView,
) -> AppResult<ProgressView> {
    if !staff || !activity.completed {
        return Err(AppError::FailedPrecondition(format!(
            "“{}” is cmi5 content: it is launched (LaunchAssignableUnit) and completes from              its own statements; staff may waive it by recording its completion",
            step.step.title
        )));
    }
    if step.state == StepState::Completed {
        return view(conn, &who.tenant_id, enrolment.clone());
    }
    if matches!(step.state, StepState::Locked | StepState::Blocked) {
        return Err(refusal(step));
    }
    let first = !before.any_activity;
    cmi5::waive(
        conn,
        &who.tenant_id,
        enrolment,
        before.pathway.clone(),
        &step.step.id,
        &who.subject,
        now(),
    )?;
    if first {
        outbox::enqueue(
            conn,
            &who.tenant_id,
            vec![events::enrolment_started(&enrolment.id, now())],
        )?;
    }
    view(conn, &who.tenant_id, enrolment.clone())
}

/// FAILED_PRECONDITION for a step the learner cannot take now, in the words progress shows.
pub(super) fn refusal(step: &StepProgress) -> AppError {
    let why = step
        .reason
        .as_ref()
        .map(StepReason::text)
        .unwrap_or_default();
    AppError::FailedPrecondition(format!("“{}” cannot be taken now: {why}", step.step.title))
}

/// After an activity: the first one tells enrolment-service the enrolment has started; a newly
/// met completion rule is recorded (and a certification pathway issues its certification).
pub(super) fn follow_up(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: &Enrolment,
    first: bool,
    at: NaiveDateTime,
) -> AppResult<ProgressView> {
    let after = view(conn, tenant, enrolment.clone())?;
    follow_up_from(conn, tenant, enrolment, first, at, after)
}

/// [`follow_up`] from the progress after the activity, when the caller has it already.
fn follow_up_from(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: &Enrolment,
    first: bool,
    at: NaiveDateTime,
    after: ProgressView,
) -> AppResult<ProgressView> {
    let mut events = Vec::new();
    if first {
        events.push(events::enrolment_started(&enrolment.id, at));
    }
    if let Some(completed_at) = after.progress.completed_at
        && enrolment.completed_at.is_none()
    {
        enrolments::set_completed(conn, tenant, &enrolment.id, completed_at)?;
        events.push(events::enrolment_completed(enrolment, completed_at));
        if let Some(policy) = after.pathway.certification {
            issue_certification(
                conn,
                tenant,
                enrolment,
                &after.pathway,
                policy,
                completed_at,
            )?;
        }
    }
    outbox::enqueue(conn, tenant, events)?;
    Ok(after)
}
