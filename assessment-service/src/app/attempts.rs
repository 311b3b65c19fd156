//! Attempts: starting (with the learner's access checked), saving answers, submitting.

use lms_platform::ids::TenantId;
use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use lms_platform::db::{DbConnection, lock_until_commit};
use lms_platform::outbox;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::now;
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit};
use rand::seq::IndexedRandom;

use super::{AssessmentApp, AttemptView, is_staff};
use crate::domain::assessment::{self, Assessment, QuestionSource};
use crate::domain::attempt::{self, AttemptRecord, AttemptResult, Saved, Status};
use crate::domain::question::{Answer, Question};
use crate::events;
use crate::storage::attempts as attempt_rows;
use crate::storage::banks as bank_rows;

impl AssessmentApp {
    /// Starts (or resumes) the calling learner's attempt.
    pub async fn start_attempt(
        &self,
        who: &Principal,
        assessment_id: String,
    ) -> AppResult<AttemptView> {
        let tenant = who.tenant_id.clone();
        let learner = who.subject.clone();
        let stored = {
            let (tenant, id) = (tenant.clone(), assessment_id.clone());
            self.db
                .read(move |conn| bank_rows::get_assessment(conn, &tenant, &id))
                .await?
        };
        // Asked before the transaction: no database transaction waits on another service.
        // enrolment-service says whether the learner takes the pathway at all; records-service,
        // which keeps their path, whether its step is theirs to take now.
        let pathway_id = &stored.assessment.pathway_id;
        let admission = self.access.require(&tenant, &learner, pathway_id).await?;
        self.steps
            .require_open(&tenant, &admission, &stored.assessment)
            .await?;
        let assessment = stored.assessment;
        let who = who.clone();
        self.db
            .write(move |conn| {
                lock_until_commit(
                    conn,
                    &format!("attempts/{tenant}/{}/{learner}", assessment.id),
                )?;
                let at = now();
                let mut previous =
                    attempt_rows::of_learner(conn, &tenant, &assessment.id, &learner)?;
                if let Some(open) = previous.iter_mut().find(|a| a.status == Status::InProgress) {
                    if open.deadline.is_none_or(|deadline| at < deadline) {
                        return Ok(AttemptView {
                            attempt: open.clone(),
                            show_results: false,
                        });
                    }
                    // Its time ran out: it is graded on what was saved, then a new one may start.
                    let expired = open.clone();
                    finish(conn, &tenant, &assessment, expired, at)?;
                }
                let used = previous.len() as i32;
                if assessment.max_attempts > 0 && used >= assessment.max_attempts {
                    return Err(AppError::FailedPrecondition(format!(
                        "all {} attempts are used",
                        assessment.max_attempts
                    )));
                }
                let questions = pick_questions(conn, &tenant, &assessment.questions)?;
                let served = attempt::serve(
                    questions,
                    assessment.shuffle_questions,
                    assessment.shuffle_options,
                );
                let record = AttemptRecord {
                    id: new_id(),
                    assessment_id: assessment.id.clone(),
                    learner: learner.clone(),
                    number: used + 1,
                    status: Status::InProgress,
                    started_at: at,
                    deadline: (assessment.time_limit_seconds > 0)
                        .then(|| at + Duration::seconds(assessment.time_limit_seconds.into())),
                    submitted_at: None,
                    served,
                    answers: BTreeMap::new(),
                    grades: BTreeMap::new(),
                    score: 0.0,
                    max_score: 0.0,
                    passed: false,
                    revision: 1,
                };
                attempt_rows::insert(conn, &tenant, &record)?;
                let resource = format!("attempts/{}", record.id);
                audit::record(
                    conn,
                    &who,
                    audit::Change::created(resource, &audited(&record))?,
                )?;
                Ok(AttemptView {
                    attempt: record,
                    show_results: false,
                })
            })
            .await
    }

    /// The learner's own attempt; anyone's for staff; for a grader of a group, its people's
    /// (as staff see them). Anyone else's is NOT_FOUND, as if it did not exist.
    pub async fn get_attempt(&self, who: &Principal, id: String) -> AppResult<AttemptView> {
        let tenant = who.tenant_id.clone();
        let (attempt, assessment) = {
            let id = id.clone();
            self.db
                .read(move |conn| {
                    let attempt = attempt_rows::get(conn, &tenant, &id)?;
                    let assessment =
                        bank_rows::get_assessment(conn, &tenant, &attempt.assessment_id)?;
                    Ok((attempt, assessment.assessment))
                })
                .await?
        };
        let staff = if attempt.learner == who.subject {
            is_staff(who)
        } else if is_staff(who) || self.grades(who, &attempt.learner).await? {
            true
        } else {
            return Err(AppError::not_found(format!("attempt {id}")));
        };
        Ok(view(attempt, &assessment, staff))
    }

    pub async fn list_attempts(
        &self,
        who: &Principal,
        assessment_id: String,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<AttemptView>> {
        let staff = is_staff(who);
        let learner = (!staff).then(|| who.subject.clone());
        let limit = pagination::page_size(page_size)?;
        let filters = format!("{assessment_id}/{learner:?}");
        let before = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                let assessment = bank_rows::get_assessment(conn, &tenant, &assessment_id)?;
                Ok(
                    attempt_rows::list(conn, &tenant, &assessment_id, learner, before, limit + 1)?
                        .into_iter()
                        .map(|a| view(a, &assessment.assessment, staff))
                        .collect(),
                )
            })
            .await?;
        Ok(paginate(items, limit, &filters, |v: &AttemptView| {
            vec![v.attempt.id.clone()]
        }))
    }

    /// Saves answers to the caller's attempt in progress.
    pub async fn save_answers(
        &self,
        who: &Principal,
        attempt_id: String,
        answers: Vec<(String, Answer)>,
    ) -> AppResult<AttemptView> {
        let tenant = who.tenant_id.clone();
        let learner = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut attempt = own_attempt(conn, &tenant, &attempt_id, &learner)?;
                let before = audited(&attempt);
                let at = now();
                if attempt.status != Status::InProgress {
                    return Err(AppError::FailedPrecondition(
                        "the attempt is submitted; answers can no longer change".into(),
                    ));
                }
                if attempt.deadline.is_some_and(|deadline| at >= deadline) {
                    return Err(AppError::FailedPrecondition(
                        "the time limit has passed; submit to be graded on what was saved".into(),
                    ));
                }
                merge_answers(&mut attempt, answers, at)?;
                let expected = attempt.revision;
                if !attempt_rows::update(conn, &tenant, &attempt, expected)? {
                    return Err(AppError::Aborted(
                        "the attempt changed at the same moment; retry".into(),
                    ));
                }
                attempt.revision += 1;
                let resource = format!("attempts/{attempt_id}");
                let change = audit::Change::updated(resource, &before, &audited(&attempt))?;
                audit::record(conn, &who, change)?;
                Ok(AttemptView {
                    attempt,
                    show_results: false,
                })
            })
            .await
    }

    /// Submits and grades the caller's attempt; a second submit returns the first result.
    pub async fn submit_attempt(
        &self,
        who: &Principal,
        attempt_id: String,
        answers: Vec<(String, Answer)>,
    ) -> AppResult<AttemptView> {
        let tenant = who.tenant_id.clone();
        let learner = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut attempt = own_attempt(conn, &tenant, &attempt_id, &learner)?;
                let before = audited(&attempt);
                let assessment =
                    bank_rows::get_assessment(conn, &tenant, &attempt.assessment_id)?.assessment;
                if attempt.status != Status::InProgress {
                    return Ok(view(attempt, &assessment, false));
                }
                let at = now();
                // After the deadline, only what was saved by then counts.
                if attempt.deadline.is_none_or(|deadline| at < deadline) {
                    merge_answers(&mut attempt, answers, at)?;
                }
                let finished = finish(conn, &tenant, &assessment, attempt, at)?;
                let resource = format!("attempts/{attempt_id}");
                let change = audit::Change::updated(resource, &before, &audited(&finished))?;
                audit::record(conn, &who, change)?;
                Ok(view(finished, &assessment, false))
            })
            .await
    }
}

/// What the audit trail keeps of an attempt: its state, answers and grades, not the questions
/// served (the assessment's, with their answers).
pub(super) fn audited(attempt: &AttemptRecord) -> serde_json::Value {
    serde_json::json!({
        "assessment_id": attempt.assessment_id,
        "learner": attempt.learner,
        "number": attempt.number,
        "status": attempt.status.as_str(),
        "deadline": attempt.deadline,
        "submitted_at": attempt.submitted_at,
        "answers": attempt.answers,
        "grades": attempt.grades,
        "score": attempt.score,
        "max_score": attempt.max_score,
        "passed": attempt.passed,
    })
}

pub(super) fn own_attempt(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    learner: &str,
) -> AppResult<AttemptRecord> {
    let attempt = attempt_rows::get(conn, tenant, id)?;
    if attempt.learner != learner {
        // Someone else's attempt does not exist for this caller.
        return Err(AppError::not_found(format!("attempt {id}")));
    }
    Ok(attempt)
}

pub(super) fn view(attempt: AttemptRecord, assessment: &Assessment, staff: bool) -> AttemptView {
    let show_results =
        staff || (attempt.status == Status::Graded && assessment.shows_feedback(now()));
    AttemptView {
        attempt,
        show_results,
    }
}

/// Checks each answer against its question in the attempt and merges them in; the whole call
/// fails (and saves nothing) on the first bad one.
pub(super) fn merge_answers(
    attempt: &mut AttemptRecord,
    answers: Vec<(String, Answer)>,
    at: NaiveDateTime,
) -> AppResult<()> {
    if answers.len() > assessment::MAX_QUESTIONS {
        return Err(AppError::invalid_field("answers", "at most 200"));
    }
    for (i, (question_id, answer)) in answers.iter().enumerate() {
        let Some(served) = attempt
            .served
            .iter()
            .find(|s| &s.question.id == question_id)
        else {
            return Err(AppError::invalid_field(
                format!("answers[{i}].question_id"),
                "is not a question of this attempt",
            ));
        };
        served
            .question
            .check_answer(answer)
            .map_err(|e| AppError::invalid_field(format!("answers[{i}].answer"), e.0))?;
    }
    for (question_id, answer) in answers {
        attempt.answers.insert(
            question_id,
            Saved {
                answer,
                saved_at: at,
            },
        );
    }
    Ok(())
}

/// Grades a submitted attempt. When nothing waits for an instructor, the result is final and
/// its outcome event is written in this transaction. Returns the attempt as stored; when a
/// concurrent submit got there first, returns that one's result instead.
pub(super) fn finish(
    conn: &mut DbConnection,
    tenant: &TenantId,
    assessment: &Assessment,
    mut attempt: AttemptRecord,
    at: NaiveDateTime,
) -> AppResult<AttemptRecord> {
    let expected = attempt.revision;
    attempt.grades = attempt::grade(&attempt.served, &attempt.answers);
    attempt.submitted_at = Some(match attempt.deadline {
        Some(deadline) if at > deadline => deadline,
        _ => at,
    });
    let mut events = Vec::new();
    if attempt.grades.values().any(|g| g.pending) {
        attempt.status = Status::AwaitingGrading;
        let (_, max) = attempt::totals(&attempt.grades);
        attempt.max_score = max;
    } else {
        let result = close(conn, tenant, assessment, &mut attempt, at)?;
        events.push(events::outcome(&result, events::Graded::OnSubmission));
    }
    if !attempt_rows::update(conn, tenant, &attempt, expected)? {
        return attempt_rows::get(conn, tenant, &attempt.id);
    }
    outbox::enqueue(conn, tenant, events)?;
    attempt.revision += 1;
    Ok(attempt)
}

/// Makes an attempt's result final: its score, whether it passed, and the assessment's result
/// after it (by the assessment's scoring rule over the learner's graded attempts).
pub(super) fn close(
    conn: &mut DbConnection,
    tenant: &TenantId,
    assessment: &Assessment,
    attempt: &mut AttemptRecord,
    at: NaiveDateTime,
) -> AppResult<AttemptResult> {
    let (score, max) = attempt::totals(&attempt.grades);
    attempt.status = Status::Graded;
    attempt.score = score;
    attempt.max_score = max;
    attempt.passed = assessment.passes(score, max);
    let graded: Vec<(f64, f64)> =
        attempt_rows::of_learner(conn, tenant, &assessment.id, &attempt.learner)?
            .into_iter()
            .filter(|a| a.status == Status::Graded && a.id != attempt.id)
            .map(|a| (a.number, (a.score, a.max_score)))
            .chain(std::iter::once((attempt.number, (score, max))))
            .collect::<BTreeMap<i32, (f64, f64)>>()
            .into_values()
            .collect();
    let result = assessment::result_percent(assessment.scoring, &graded);
    Ok(AttemptResult {
        attempt_id: attempt.id.clone(),
        assessment_id: assessment.id.clone(),
        pathway_id: assessment.pathway_id.clone(),
        step_id: assessment.step_id.clone(),
        learner: attempt.learner.clone(),
        attempt_number: attempt.number,
        max_attempts: assessment.max_attempts,
        score,
        max_score: max,
        passed: attempt.passed,
        result_percent: result,
        result_passed: result + 1e-9 >= assessment.pass_mark_percent,
        graded_at: at,
    })
}

/// The questions of a new attempt: the fixed list in order, or a fresh random draw.
fn pick_questions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    source: &QuestionSource,
) -> AppResult<Vec<Question>> {
    match source {
        QuestionSource::Fixed { question_ids } => {
            let found = bank_rows::questions_by_ids(conn, tenant, question_ids)?;
            question_ids
                .iter()
                .map(|id| {
                    found
                        .iter()
                        .find(|q| &q.question.id == id)
                        .map(|q| q.question.clone())
                        .ok_or_else(|| {
                            AppError::FailedPrecondition(format!("question {id} no longer exists"))
                        })
                })
                .collect()
        }
        QuestionSource::Random {
            bank_id,
            tags,
            count,
        } => {
            let pool = bank_rows::list_questions(conn, tenant, bank_id, tags, None, None)?;
            if pool.len() < *count {
                return Err(AppError::FailedPrecondition(format!(
                    "the bank has {} matching questions; {count} are drawn per attempt",
                    pool.len()
                )));
            }
            Ok(pool
                .choose_multiple(&mut rand::rng(), *count)
                .map(|q| q.question.clone())
                .collect())
        }
    }
}
