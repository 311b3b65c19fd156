//! Question banks and their questions: authoring, GIFT import and export, regrading.

use lms_platform::ids::TenantId;
use std::collections::BTreeMap;

use lms_platform::db::DbConnection;
use lms_platform::outbox;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag, now};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit, idempotency};

use super::attempts::close;
use super::{AssessmentApp, BankView, MAX_GIFT_BYTES};
use crate::domain::assessment::Assessment;
use crate::domain::attempt::{self, Status};
use crate::domain::bank::{Bank, StoredQuestion};
use crate::domain::gift;
use crate::domain::question::Question;
use crate::events;
use crate::storage::attempts as attempt_rows;
use crate::storage::banks as bank_rows;

impl AssessmentApp {
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
        let who = who.clone();
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
                        let resource = format!("questionBanks/{}", bank.id);
                        audit::record(conn, &who, audit::Change::created(resource, &bank)?)?;
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
        let who = who.clone();
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
                        let resource = format!("questionBanks/{bank_id}/questions");
                        let added = serde_json::json!({ "added": &questions });
                        audit::record(conn, &who, audit::Change::acted(resource, &added)?)?;
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
        let who = who.clone();
        self.db
            .write(move |conn| {
                let current = bank_rows::get_question(conn, &tenant, &question.id)?;
                check_etag(&etag, current.revision)?;
                let at = now();
                bank_rows::update_question(conn, &tenant, &question, current.revision, at, &actor)?;
                let resource = format!("questions/{}", question.id);
                let change = audit::Change::updated(resource, &current.question, &question)?;
                audit::record(conn, &who, change)?;
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
        let who = who.clone();
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
                        let result = close(conn, &tenant, assessment, &mut attempt, now())?;
                        events.push(events::outcome(&result, events::Graded::Corrected));
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
                    let resource = format!("questions/{question_id}");
                    let regraded = serde_json::json!({ "attempts": total, "scores_changed": changed });
                    audit::record(conn, &who, audit::Change::acted(resource, &regraded)?)?;
                }
                Ok((total, changed))
            })
            .await
    }
}

pub(super) fn bank_view(
    conn: &mut DbConnection,
    tenant: &TenantId,
    bank: Bank,
) -> AppResult<BankView> {
    let counts = bank_rows::question_counts(conn, tenant, std::slice::from_ref(&bank.id))?;
    Ok(BankView {
        questions: counts.get(&bank.id).copied().unwrap_or(0),
        bank,
    })
}
