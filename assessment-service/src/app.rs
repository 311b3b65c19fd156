//! Use cases: who may do what, in which transaction, calling the domain rules and storage.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use lms_platform::db::{Db, DbConnection, lock_until_commit};
use lms_platform::outbox::{self, NewEvent};
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag, now, timestamp};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, Role, idempotency};
use lms_proto::assessment_v1 as pb;
use rand::seq::IndexedRandom;

use crate::clients::enrolment::EnrolmentAccess;
use crate::domain::assessment::{self, Assessment, QuestionSource};
use crate::domain::attempt::{self, Saved, Status};
use crate::domain::gift;
use crate::domain::question::{Answer, Question};
use crate::storage::attempts::{self as attempt_rows, AttemptRecord};
use crate::storage::banks::{self as bank_rows, Bank, StoredAssessment, StoredQuestion};

/// Authors of banks and assessments, and graders.
pub const STAFF: [Role; 2] = [Role::Admin, Role::Instructor];
/// Who reads banks and questions (answer keys included): never learners.
pub const KEY_READERS: [Role; 3] = [Role::Admin, Role::Instructor, Role::Service];
pub const ANY_ROLE: [Role; 4] = [Role::Admin, Role::Instructor, Role::Learner, Role::Service];
pub const LEARNERS: [Role; 1] = [Role::Learner];

/// The largest GIFT text one import takes.
pub const MAX_GIFT_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AssessmentApp {
    db: Db,
    access: EnrolmentAccess,
}

pub struct BankView {
    pub bank: Bank,
    pub questions: i64,
}

/// An attempt and whether its viewer may see per-question results.
pub struct AttemptView {
    pub attempt: AttemptRecord,
    pub show_results: bool,
}

/// One essay answer waiting for a grade.
pub struct PendingGrade {
    pub attempt: AttemptRecord,
    pub question_id: String,
    pub question_text: String,
    pub answer_text: String,
    pub max_points: f64,
}

fn is_staff(who: &Principal) -> bool {
    who.has_any(&[Role::Admin, Role::Instructor, Role::Service])
}

impl AssessmentApp {
    pub fn new(db: Db, access: EnrolmentAccess) -> Self {
        Self { db, access }
    }

    // ---- banks and questions ----------------------------------------------------------------

    pub async fn create_bank(
        &self,
        who: &Principal,
        name: String,
        description: String,
        request_id: Option<String>,
    ) -> AppResult<BankView> {
        let tenant = who.tenant_id.clone();
        let bank = Bank {
            id: new_id(),
            name: name.trim().to_string(),
            description,
            revision: 1,
            audit: Audit::new(&who.subject),
        };
        self.db
            .write(move |conn| {
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateQuestionBank",
                    request_id.as_deref(),
                    |conn, id| {
                        let bank = bank_rows::get_bank(conn, &tenant, id)?;
                        bank_view(conn, &tenant, bank)
                    },
                    |conn| {
                        bank_rows::insert_bank(conn, &tenant, &bank)?;
                        Ok((bank.id.clone(), BankView { bank, questions: 0 }))
                    },
                )
            })
            .await
    }

    pub async fn get_bank(&self, who: &Principal, id: String) -> AppResult<BankView> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let bank = bank_rows::get_bank(conn, &tenant, &id)?;
                bank_view(conn, &tenant, bank)
            })
            .await
    }

    pub async fn list_banks(
        &self,
        who: &Principal,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<BankView>> {
        let limit = pagination::page_size(page_size)?;
        let after = pagination::decode_key(&page_token, "banks")?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                let banks = bank_rows::list_banks(conn, &tenant, after, limit + 1)?;
                let ids: Vec<String> = banks.iter().map(|b| b.id.clone()).collect();
                let counts = bank_rows::question_counts(conn, &tenant, &ids)?;
                Ok(banks
                    .into_iter()
                    .map(|bank| BankView {
                        questions: counts.get(&bank.id).copied().unwrap_or(0),
                        bank,
                    })
                    .collect())
            })
            .await?;
        Ok(paginate(items, limit, "banks", |v: &BankView| {
            vec![v.bank.name.trim().to_lowercase()]
        }))
    }

    /// Adds validated questions to a bank (ids assigned here).
    pub async fn add_questions(
        &self,
        who: &Principal,
        bank_id: String,
        mut questions: Vec<Question>,
        request_id: Option<String>,
    ) -> AppResult<Vec<StoredQuestion>> {
        let tenant = who.tenant_id.clone();
        let audit = Audit::new(&who.subject);
        for q in &mut questions {
            q.id = new_id();
        }
        self.db
            .write(move |conn| {
                let existing = |conn: &mut DbConnection, id: &str| {
                    bank_rows::get_question(conn, &tenant, id).map(|q| vec![q])
                };
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateQuestion",
                    request_id.as_deref(),
                    existing,
                    |conn| {
                        bank_rows::get_bank(conn, &tenant, &bank_id)?;
                        let rows: Vec<(Question, Audit)> = questions
                            .iter()
                            .map(|q| (q.clone(), audit.clone()))
                            .collect();
                        bank_rows::insert_questions(conn, &tenant, &bank_id, &rows)?;
                        let first = questions.first().map(|q| q.id.clone()).unwrap_or_default();
                        Ok((
                            first,
                            questions
                                .into_iter()
                                .map(|question| StoredQuestion {
                                    bank_id: bank_id.clone(),
                                    question,
                                    revision: 1,
                                    audit: audit.clone(),
                                })
                                .collect(),
                        ))
                    },
                )
            })
            .await
    }

    pub async fn get_question(&self, who: &Principal, id: String) -> AppResult<StoredQuestion> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| bank_rows::get_question(conn, &tenant, &id))
            .await
    }

    pub async fn list_questions(
        &self,
        who: &Principal,
        bank_id: String,
        tag: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<StoredQuestion>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("{bank_id}/{tag:?}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let tags: Vec<String> = tag.into_iter().collect();
        let items = self
            .db
            .read(move |conn| {
                bank_rows::get_bank(conn, &tenant, &bank_id)?;
                bank_rows::list_questions(conn, &tenant, &bank_id, &tags, after, Some(limit + 1))
            })
            .await?;
        Ok(paginate(items, limit, &filters, |q: &StoredQuestion| {
            vec![q.question.id.clone()]
        }))
    }

    pub async fn update_question(
        &self,
        who: &Principal,
        question: Question,
        etag: String,
    ) -> AppResult<StoredQuestion> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let current = bank_rows::get_question(conn, &tenant, &question.id)?;
                check_etag(&etag, current.revision)?;
                let at = now();
                bank_rows::update_question(conn, &tenant, &question, current.revision, at, &actor)?;
                bank_rows::get_question(conn, &tenant, &question.id)
            })
            .await
    }

    /// Reads GIFT text into a bank: the questions that read are added (unless `dry_run`), the
    /// others reported by line.
    pub async fn import_gift(
        &self,
        who: &Principal,
        bank_id: String,
        text: String,
        dry_run: bool,
    ) -> AppResult<(usize, Vec<gift::GiftError>)> {
        if text.len() > MAX_GIFT_BYTES {
            return Err(AppError::invalid_field("gift", "at most 1 MiB"));
        }
        let (parsed, mut errors) = gift::parse_with_lines(&text);
        // A question that reads as GIFT must also be a valid question here.
        let mut good = Vec::with_capacity(parsed.len());
        for (mut question, line) in parsed {
            let mut v = lms_platform::validate::Violations::new();
            crate::domain::question::validate(&mut v, "", &mut question);
            match v.finish() {
                Ok(()) => good.push(question),
                Err(error) => errors.push(gift::GiftError {
                    line,
                    message: error.to_string(),
                }),
            }
        }
        errors.sort_by_key(|e| e.line);
        if dry_run {
            let tenant = who.tenant_id.clone();
            self.db
                .read(move |conn| bank_rows::get_bank(conn, &tenant, &bank_id))
                .await?;
            return Ok((good.len(), errors));
        }
        let count = good.len();
        self.add_questions(who, bank_id, good, None).await?;
        Ok((count, errors))
    }

    pub async fn export_gift(&self, who: &Principal, bank_id: String) -> AppResult<String> {
        let tenant = who.tenant_id.clone();
        let questions = self
            .db
            .read(move |conn| {
                bank_rows::get_bank(conn, &tenant, &bank_id)?;
                bank_rows::list_questions(conn, &tenant, &bank_id, &[], None, None)
            })
            .await?;
        let questions: Vec<Question> = questions.into_iter().map(|q| q.question).collect();
        gift::export(&questions).map_err(AppError::FailedPrecondition)
    }

    /// Regrades submitted attempts that were served the question, with its current definition.
    /// Returns (attempts served it, attempts whose score changes).
    pub async fn regrade_question(
        &self,
        who: &Principal,
        question_id: String,
        dry_run: bool,
    ) -> AppResult<(usize, usize)> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let current = bank_rows::get_question(conn, &tenant, &question_id)?.question;
                let attempts = attempt_rows::submitted_with_question(conn, &tenant, &question_id)?;
                let total = attempts.len();
                let mut changed = 0;
                let mut assessments: BTreeMap<String, Assessment> = BTreeMap::new();
                for mut attempt in attempts {
                    let Some(served) = attempt.served.iter_mut().find(|s| s.question.id == question_id) else {
                        continue;
                    };
                    served.question = current.clone();
                    let regraded = attempt::grade(std::slice::from_ref(served), &attempt.answers);
                    let (Some(new), Some(old)) = (regraded.get(&question_id), attempt.grades.get(&question_id)) else {
                        continue;
                    };
                    // Essays keep the instructor's grade.
                    if new.pending || old.pending || (new.points - old.points).abs() < 1e-9 {
                        continue;
                    }
                    changed += 1;
                    if dry_run {
                        continue;
                    }
                    attempt.grades.insert(question_id.clone(), new.clone());
                    let expected = attempt.revision;
                    let mut events = Vec::new();
                    if attempt.status == Status::Graded {
                        if !assessments.contains_key(&attempt.assessment_id) {
                            let a = bank_rows::get_assessment(conn, &tenant, &attempt.assessment_id)?.assessment;
                            assessments.insert(a.id.clone(), a);
                        }
                        let assessment = &assessments[&attempt.assessment_id];
                        close(conn, &tenant, assessment, &mut attempt, now(), &mut events)?;
                        for event in &mut events {
                            mark_corrected(event)?;
                        }
                    } else {
                        let (_, max) = attempt::totals(&attempt.grades);
                        attempt.max_score = max;
                    }
                    if !attempt_rows::update(conn, &tenant, &attempt, expected)? {
                        return Err(AppError::Aborted("an attempt changed during the regrade; retry".into()));
                    }
                    outbox::enqueue(conn, &tenant, events)?;
                }
                if !dry_run {
                    tracing::info!(question = %question_id, total, changed, %actor, "question regraded");
                }
                Ok((total, changed))
            })
            .await
    }

    // ---- assessments ------------------------------------------------------------------------

    pub async fn create_assessment(
        &self,
        who: &Principal,
        mut assessment: Assessment,
        request_id: Option<String>,
    ) -> AppResult<StoredAssessment> {
        let tenant = who.tenant_id.clone();
        let audit = Audit::new(&who.subject);
        assessment.id = new_id();
        self.db
            .write(move |conn| {
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateAssessment",
                    request_id.as_deref(),
                    |conn, id| bank_rows::get_assessment(conn, &tenant, id),
                    |conn| {
                        check_source(conn, &tenant, &assessment.questions)?;
                        bank_rows::insert_assessment(conn, &tenant, &assessment, &audit)?;
                        Ok((
                            assessment.id.clone(),
                            StoredAssessment {
                                assessment,
                                revision: 1,
                                audit,
                            },
                        ))
                    },
                )
            })
            .await
    }

    /// Replaces an assessment's settings with `replacement` (validated by the caller) if the
    /// etag still matches; its id and pathway stay.
    pub async fn update_assessment(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        mut replacement: Assessment,
    ) -> AppResult<StoredAssessment> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let stored = bank_rows::get_assessment(conn, &tenant, &id)?;
                check_etag(&etag, stored.revision)?;
                replacement.id = stored.assessment.id;
                replacement.pathway_id = stored.assessment.pathway_id;
                check_source(conn, &tenant, &replacement.questions)?;
                bank_rows::update_assessment(
                    conn,
                    &tenant,
                    &replacement,
                    stored.revision,
                    now(),
                    &actor,
                )?;
                bank_rows::get_assessment(conn, &tenant, &id)
            })
            .await
    }

    pub async fn get_assessment(&self, who: &Principal, id: String) -> AppResult<StoredAssessment> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| bank_rows::get_assessment(conn, &tenant, &id))
            .await
    }

    pub async fn list_assessments(
        &self,
        who: &Principal,
        pathway_id: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<StoredAssessment>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("{pathway_id:?}");
        let before = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                bank_rows::list_assessments(conn, &tenant, pathway_id, before, limit + 1)
            })
            .await?;
        Ok(paginate(items, limit, &filters, |a: &StoredAssessment| {
            vec![a.assessment.id.clone()]
        }))
    }

    // ---- attempts ---------------------------------------------------------------------------

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
        self.access
            .require(&tenant, &learner, &stored.assessment.pathway_id)
            .await?;
        let assessment = stored.assessment;
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
                Ok(AttemptView {
                    attempt: record,
                    show_results: false,
                })
            })
            .await
    }

    pub async fn get_attempt(&self, who: &Principal, id: String) -> AppResult<AttemptView> {
        let tenant = who.tenant_id.clone();
        let staff = is_staff(who);
        let subject = who.subject.clone();
        self.db
            .read(move |conn| {
                let attempt = attempt_rows::get(conn, &tenant, &id)?;
                if !staff && attempt.learner != subject {
                    return Err(AppError::not_found(format!("attempt {id}")));
                }
                let assessment = bank_rows::get_assessment(conn, &tenant, &attempt.assessment_id)?;
                Ok(view(attempt, &assessment.assessment, staff))
            })
            .await
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
        self.db
            .write(move |conn| {
                let mut attempt = own_attempt(conn, &tenant, &attempt_id, &learner)?;
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
        self.db
            .write(move |conn| {
                let mut attempt = own_attempt(conn, &tenant, &attempt_id, &learner)?;
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
                Ok(view(finished, &assessment, false))
            })
            .await
    }

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
        let tenant = who.tenant_id.clone();
        let grader = who.subject.clone();
        self.db
            .write(move |conn| {
                let mut attempt = attempt_rows::get(conn, &tenant, &attempt_id)?;
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
                    close(conn, &tenant, &assessment, &mut attempt, now(), &mut events)?;
                }
                if !attempt_rows::update(conn, &tenant, &attempt, expected)? {
                    return Err(AppError::Aborted("the attempt changed at the same moment; retry".into()));
                }
                outbox::enqueue(conn, &tenant, events)?;
                attempt.revision += 1;
                Ok(view(attempt, &assessment, true))
            })
            .await
    }
}

fn bank_view(conn: &mut DbConnection, tenant: &str, bank: Bank) -> AppResult<BankView> {
    let counts = bank_rows::question_counts(conn, tenant, std::slice::from_ref(&bank.id))?;
    Ok(BankView {
        questions: counts.get(&bank.id).copied().unwrap_or(0),
        bank,
    })
}

fn own_attempt(
    conn: &mut DbConnection,
    tenant: &str,
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

fn view(attempt: AttemptRecord, assessment: &Assessment, staff: bool) -> AttemptView {
    let show_results =
        staff || (attempt.status == Status::Graded && assessment.shows_feedback(now()));
    AttemptView {
        attempt,
        show_results,
    }
}

/// Checks each answer against its question in the attempt and merges them in; the whole call
/// fails (and saves nothing) on the first bad one.
fn merge_answers(
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
fn finish(
    conn: &mut DbConnection,
    tenant: &str,
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
        close(conn, tenant, assessment, &mut attempt, at, &mut events)?;
    }
    if !attempt_rows::update(conn, tenant, &attempt, expected)? {
        return attempt_rows::get(conn, tenant, &attempt.id);
    }
    outbox::enqueue(conn, tenant, events)?;
    attempt.revision += 1;
    Ok(attempt)
}

/// Makes an attempt's result final and queues its outcome event.
fn close(
    conn: &mut DbConnection,
    tenant: &str,
    assessment: &Assessment,
    attempt: &mut AttemptRecord,
    at: NaiveDateTime,
    events: &mut Vec<NewEvent>,
) -> AppResult<()> {
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
    events.push(NewEvent::new(
        attempt.id.clone(),
        &pb::AssessmentOutcome {
            attempt_id: attempt.id.clone(),
            assessment_id: assessment.id.clone(),
            pathway_id: assessment.pathway_id.clone(),
            step_id: assessment.step_id.clone(),
            learner: attempt.learner.clone(),
            attempt_number: attempt.number,
            score,
            max_score: max,
            passed: attempt.passed,
            result_percent: result,
            result_passed: result + 1e-9 >= assessment.pass_mark_percent,
            grade_time: Some(timestamp(at)),
            corrected: false,
        },
    ));
    Ok(())
}

/// Marks a queued outcome event as correcting an earlier one.
fn mark_corrected(event: &mut NewEvent) -> AppResult<()> {
    use prost::Message;
    let mut outcome = pb::AssessmentOutcome::decode(event.payload.value.as_slice())
        .map_err(AppError::internal)?;
    outcome.corrected = true;
    event.payload.value = outcome.encode_to_vec();
    Ok(())
}

/// The fixed questions must exist; a random draw needs enough questions in its bank.
fn check_source(conn: &mut DbConnection, tenant: &str, source: &QuestionSource) -> AppResult<()> {
    match source {
        QuestionSource::Fixed { question_ids } => {
            let found = bank_rows::questions_by_ids(conn, tenant, question_ids)?;
            if let Some(missing) = question_ids
                .iter()
                .find(|id| !found.iter().any(|q| &q.question.id == *id))
            {
                return Err(AppError::not_found(format!("question {missing}")));
            }
        }
        QuestionSource::Random {
            bank_id,
            tags,
            count,
        } => {
            bank_rows::get_bank(conn, tenant, bank_id)?;
            let available =
                bank_rows::list_questions(conn, tenant, bank_id, tags, None, None)?.len();
            if available < *count {
                return Err(AppError::FailedPrecondition(format!(
                    "the bank has {available} matching questions; {count} are drawn per attempt"
                )));
            }
        }
    }
    Ok(())
}

/// The questions of a new attempt: the fixed list in order, or a fresh random draw.
fn pick_questions(
    conn: &mut DbConnection,
    tenant: &str,
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
