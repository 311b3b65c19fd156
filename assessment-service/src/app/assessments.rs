//! Assessments: which questions, pass mark, limits.

use lms_platform::db::DbConnection;
use lms_platform::ids::{PathwayId, TenantId};
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag, now};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit, idempotency};

use super::AssessmentApp;
use crate::domain::assessment::{Assessment, NewAssessmentStep, QuestionSource, StoredAssessment};
use crate::storage::banks as bank_rows;

impl AssessmentApp {
    /// Creates an assessment of an existing pathway. With `add_step` (admins), the step that
    /// links it is added to the pathway's draft in the same call; when pathway-service refuses
    /// the step, the assessment is removed again and pathway-service's error returned.
    pub async fn create_assessment(
        &self,
        who: &Principal,
        mut assessment: Assessment,
        add_step: Option<NewAssessmentStep>,
        request_id: Option<String>,
    ) -> AppResult<StoredAssessment> {
        let tenant = who.tenant_id.clone();
        if add_step.is_some() && !who.is_admin() {
            return Err(AppError::PermissionDenied(
                "only admins add steps to pathways".into(),
            ));
        }
        assessment.id = new_id();
        // Asked before the transaction: no transaction waits on another service.
        self.pathways
            .require(
                &tenant,
                &assessment.pathway_id,
                &assessment.step_id,
                &assessment.id,
            )
            .await?;
        let audit = Audit::new(&who.subject);
        // With a step to add, the create is recorded when the step is linked: a create whose
        // step is refused is undone, and leaves no entry.
        let record_now = add_step.is_none();
        let stored = {
            let (tenant, request_id, who) = (tenant.clone(), request_id.clone(), who.clone());
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
                            if record_now {
                                let resource = format!("assessments/{}", assessment.id);
                                let change = audit::Change::created(resource, &assessment)?;
                                audit::record(conn, &who, change)?;
                            }
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
                .await?
        };
        let Some(step) = add_step else {
            return Ok(stored);
        };
        if !stored.assessment.step_id.is_empty() {
            // A replay of a create whose step was added.
            return Ok(stored);
        }
        let id = stored.assessment.id.clone();
        let pathway_id = stored.assessment.pathway_id.clone();
        match self
            .pathways
            .add_step(&tenant, &pathway_id, &id, step)
            .await
        {
            Ok(step_id) => {
                let actor = who.subject.clone();
                let who = who.clone();
                self.db
                    .write(move |conn| {
                        let mut linked = bank_rows::get_assessment(conn, &tenant, &id)?;
                        linked.assessment.step_id = step_id;
                        bank_rows::update_assessment(
                            conn,
                            &tenant,
                            &linked.assessment,
                            linked.revision,
                            now(),
                            &actor,
                        )?;
                        let created = bank_rows::get_assessment(conn, &tenant, &id)?;
                        let resource = format!("assessments/{id}");
                        let change = audit::Change::created(resource, &created.assessment)?;
                        audit::record(conn, &who, change)?;
                        Ok(created)
                    })
                    .await
            }
            Err(refused) => {
                self.db
                    .write(move |conn| {
                        bank_rows::delete_assessment(conn, &tenant, &id)?;
                        if let Some(request_id) = &request_id {
                            idempotency::forget(conn, &tenant, "CreateAssessment", request_id)?;
                        }
                        Ok(())
                    })
                    .await?;
                Err(refused)
            }
        }
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
        let who = who.clone();
        let current = {
            let (tenant, id) = (tenant.clone(), id.clone());
            self.db
                .read(move |conn| bank_rows::get_assessment(conn, &tenant, &id))
                .await?
        };
        if replacement.step_id != current.assessment.step_id {
            // Asked before the transaction: the step must be the pathway's and link this
            // assessment.
            self.pathways
                .require(
                    &tenant,
                    &current.assessment.pathway_id,
                    &replacement.step_id,
                    &current.assessment.id,
                )
                .await?;
        }
        self.db
            .write(move |conn| {
                let stored = bank_rows::get_assessment(conn, &tenant, &id)?;
                check_etag(&etag, stored.revision)?;
                replacement.id = stored.assessment.id.clone();
                replacement.pathway_id = stored.assessment.pathway_id.clone();
                check_source(conn, &tenant, &replacement.questions)?;
                bank_rows::update_assessment(
                    conn,
                    &tenant,
                    &replacement,
                    stored.revision,
                    now(),
                    &actor,
                )?;
                let updated = bank_rows::get_assessment(conn, &tenant, &id)?;
                let resource = format!("assessments/{id}");
                let change =
                    audit::Change::updated(resource, &stored.assessment, &updated.assessment)?;
                audit::record(conn, &who, change)?;
                Ok(updated)
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
        pathway_id: Option<PathwayId>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<StoredAssessment>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("{:?}", pathway_id.as_deref());
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
}

/// The fixed questions must exist; a random draw needs enough questions in its bank.
fn check_source(
    conn: &mut DbConnection,
    tenant: &TenantId,
    source: &QuestionSource,
) -> AppResult<()> {
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
