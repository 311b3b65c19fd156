//! The manual grading queue: essays waiting for an instructor.

use lms_platform::outbox;
use lms_platform::pagination::{self, Page};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, audit};

use super::attempts::{close, view};
use super::{AssessmentApp, AttemptView, PendingGrade};
use crate::domain::attempt::{AttemptRecord, Status};
use crate::domain::question::Answer;
use crate::events;
use crate::storage::attempts as attempt_rows;
use crate::storage::banks as bank_rows;

impl AssessmentApp {
    /// Essay answers waiting for a grade.
    pub async fn pending_grades(
        &self,
        who: &Principal,
        assessment_id: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<PendingGrade>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("{assessment_id:?}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let attempts = self
            .db
            .read(move |conn| {
                // Asking about an assessment that does not exist is a mistake, not an empty
                // queue.
                if let Some(id) = &assessment_id {
                    bank_rows::get_assessment(conn, &tenant, id)?;
                }
                attempt_rows::awaiting_grading(conn, &tenant, assessment_id, after, limit + 1)
            })
            .await?;
        let more = attempts.len() as i64 > limit;
        let attempts: Vec<AttemptRecord> = attempts.into_iter().take(limit as usize).collect();
        let next_page_token = match (more, attempts.last()) {
            (true, Some(last)) => pagination::encode(vec![last.id.clone()], &filters),
            _ => String::new(),
        };
        let mut items = Vec::new();
        for attempt in attempts {
            for served in &attempt.served {
                let q = &served.question;
                if attempt.grades.get(&q.id).is_some_and(|g| g.pending) {
                    let answer_text = match attempt.answers.get(&q.id).map(|s| &s.answer) {
                        Some(Answer::Text { text }) => text.clone(),
                        _ => String::new(),
                    };
                    items.push(PendingGrade {
                        attempt: attempt.clone(),
                        question_id: q.id.clone(),
                        question_text: q.text.clone(),
                        answer_text,
                        max_points: q.points,
                    });
                }
            }
        }
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Grades one essay; the attempt's result follows when its last essay is graded.
    pub async fn grade_answer(
        &self,
        who: &Principal,
        attempt_id: String,
        question_id: String,
        points: f64,
        feedback: String,
    ) -> AppResult<AttemptView> {
        if !super::is_staff(who) {
            // A grader of a group: the attempt's learner (fixed for its life) must be in it.
            let learner = {
                let (tenant, id) = (who.tenant_id.clone(), attempt_id.clone());
                self.db
                    .read(move |conn| Ok(attempt_rows::get(conn, &tenant, &id)?.learner))
                    .await?
            };
            if !self.grades(who, &learner).await? {
                return Err(AppError::not_found(format!("attempt {attempt_id}")));
            }
        }
        let tenant = who.tenant_id.clone();
        let grader = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut attempt = attempt_rows::get(conn, &tenant, &attempt_id)?;
                let before = super::attempts::audited(&attempt);
                let assessment = bank_rows::get_assessment(conn, &tenant, &attempt.assessment_id)?.assessment;
                if attempt.status != Status::AwaitingGrading {
                    return Err(AppError::FailedPrecondition(
                        "the attempt is not waiting for grades".into(),
                    ));
                }
                let Some(grade) = attempt.grades.get_mut(&question_id) else {
                    return Err(AppError::invalid_field("question_id", "is not in this attempt"));
                };
                if !grade.pending {
                    return Err(AppError::FailedPrecondition(format!(
                        "question {question_id} is graded already"
                    )));
                }
                if !(0.0..=grade.max_points).contains(&points) {
                    return Err(AppError::invalid_field(
                        "points",
                        format!("must be between 0 and {}", grade.max_points),
                    ));
                }
                grade.points = points;
                grade.pending = false;
                if !feedback.trim().is_empty() {
                    grade.feedback = feedback.trim().to_string();
                }
                tracing::info!(attempt = %attempt.id, question = %question_id, %grader, "essay graded");
                let expected = attempt.revision;
                let mut events = Vec::new();
                if attempt.grades.values().all(|g| !g.pending) {
                    let result = close(conn, &tenant, &assessment, &mut attempt, now())?;
                    events.push(events::outcome(&result, events::Graded::ByPerson));
                }
                if !attempt_rows::update(conn, &tenant, &attempt, expected)? {
                    return Err(AppError::Aborted("the attempt changed at the same moment; retry".into()));
                }
                outbox::enqueue(conn, &tenant, events)?;
                attempt.revision += 1;
                let resource = format!("attempts/{attempt_id}");
                let after = super::attempts::audited(&attempt);
                audit::record(conn, &who, audit::Change::updated(resource, &before, &after)?)?;
                Ok(view(attempt, &assessment, true))
            })
            .await
    }
}
