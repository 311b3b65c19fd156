//! Compliance reports on a pathway: one line per learner with a current enrolment.

use lms_platform::ids::{EnrolmentId, PathwayId, TenantId};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::NaiveDateTime;
use lms_platform::access::{Permission, Target};
use lms_platform::db::{Db, DbConnection};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal};
use tokio::sync::mpsc;

use super::RecordsApp;
use crate::domain::certification::{self, Compliance};
use crate::domain::enrolment::Enrolment;
use crate::domain::pathway::PathwaySnapshot;
use crate::domain::progress;
use crate::domain::report::Scope;
use crate::storage::{activities, certifications, enrolments, versions};

/// One learner's line of a compliance report.
pub struct ComplianceLine {
    pub enrolment: Enrolment,
    pub state: Compliance,
    pub percent: f64,
    pub completed_at: Option<NaiveDateTime>,
    pub certification_expires_at: Option<NaiveDateTime>,
    pub certification_status: Option<certification::Status>,
}

impl RecordsApp {
    /// Compliance on a pathway, one line per learner with a current enrolment, sent page by
    /// page as each is ready. Unscoped: pages of 1 000 enrolments in learner order. Scoped to
    /// an audience, class or department: enrolment-service's members come in external-id
    /// order, a page of 500 at a time (fetched ahead), and each page is joined with its
    /// learners' enrolments, so the first rows go out after one page, not after the whole
    /// membership. Each page is one query each for enrolments, activities and certifications.
    pub async fn compliance_report(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        mut scope: Option<Scope>,
    ) -> AppResult<mpsc::Receiver<AppResult<ComplianceLine>>> {
        if let Some(Scope::Team { manager, .. }) = &mut scope
            && manager.is_empty()
        {
            manager.clone_from(&who.subject);
        }
        let own_team =
            matches!(&scope, Some(Scope::Team { manager, .. }) if *manager == who.subject);
        // Staff report on anything; a binding's holder on the very group it names.
        let group = scope.as_ref().and_then(Scope::group);
        let target = match &group {
            Some(group) => Target::Group(group),
            None => Target::Tenant,
        };
        if !own_team
            && !self
                .access
                .allows(who, Permission::ReadRecords, target)
                .await?
        {
            return Err(AppError::PermissionDenied(
                "compliance reports are for staff; a manager reports on their own team \
                 (scope team)"
                    .into(),
            ));
        }
        // A report on a pathway that does not exist is a mistake, not an empty report.
        self.pathways
            .require_pathway(&who.tenant_id, &pathway_id)
            .await?;
        let mut member_pages = match &scope {
            Some(scope) => Some(self.directory.member_pages(&who.tenant_id, scope).await?),
            None => None,
        };
        let (send, receive) = mpsc::channel(2_000);
        let mut report = ReportPages {
            db: self.db.clone(),
            tenant: who.tenant_id.clone(),
            pathway_id,
            versions: HashMap::new(),
        };
        tokio::spawn(async move {
            let mut after: Option<String> = None;
            loop {
                let page = match member_pages.as_mut() {
                    Some(pages) => match pages.recv().await {
                        None => return,
                        Some(Err(error)) => Err(error),
                        Some(Ok(learners)) => report.of_learners(learners).await.map(|l| (l, true)),
                    },
                    None => report.after(after.take()).await.map(|(lines, last)| {
                        let more = last.is_some();
                        after = last;
                        (lines, more)
                    }),
                };
                match page {
                    Ok((lines, more)) => {
                        for line in lines {
                            if send.send(Ok(line)).await.is_err() {
                                return;
                            }
                        }
                        if !more {
                            return;
                        }
                    }
                    Err(error) => {
                        let _ = send.send(Err(error)).await;
                        return;
                    }
                }
            }
        });
        Ok(receive)
    }
}

/// A compliance report's pages, with the pathway versions met so far.
struct ReportPages {
    db: Db,
    tenant: TenantId,
    pathway_id: PathwayId,
    versions: HashMap<i32, PathwaySnapshot>,
}

const REPORT_PAGE: i64 = 1_000;

impl ReportPages {
    /// The next page of every current enrolment, after the learner `after`; with the last
    /// learner of a full page (None after the last page).
    async fn after(
        &mut self,
        after: Option<String>,
    ) -> AppResult<(Vec<ComplianceLine>, Option<String>)> {
        let (tenant, pathway_id) = (self.tenant.clone(), self.pathway_id.clone());
        self.lines(move |conn| {
            enrolments::pathway_enrolments(conn, &tenant, &pathway_id, after, REPORT_PAGE)
        })
        .await
    }

    /// The lines of these learners (those with a current enrolment).
    async fn of_learners(&mut self, learners: Vec<String>) -> AppResult<Vec<ComplianceLine>> {
        let (tenant, pathway_id) = (self.tenant.clone(), self.pathway_id.clone());
        let (lines, _) = self
            .lines(move |conn| {
                enrolments::pathway_enrolments_of(conn, &tenant, &pathway_id, &learners)
            })
            .await?;
        Ok(lines)
    }

    async fn lines(
        &mut self,
        enrolments: impl FnOnce(&mut DbConnection) -> AppResult<Vec<Enrolment>> + Send + 'static,
    ) -> AppResult<(Vec<ComplianceLine>, Option<String>)> {
        let tenant = self.tenant.clone();
        let mut cached = std::mem::take(&mut self.versions);
        let (lines, cached, last) = self
            .db
            .read(move |conn| {
                let enrolments = enrolments(conn)?;
                let last = (enrolments.len() as i64 == REPORT_PAGE)
                    .then(|| enrolments.last().map(|e| e.learner.clone()))
                    .flatten();
                let lines = compliance_lines(conn, &tenant, enrolments, &mut cached)?;
                Ok((lines, cached, last))
            })
            .await?;
        self.versions = cached;
        Ok((lines, last))
    }
}

/// Each enrolment's compliance, from its records and certification (one query each for the
/// whole page).
fn compliance_lines(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolments: Vec<Enrolment>,
    cached: &mut HashMap<i32, PathwaySnapshot>,
) -> AppResult<Vec<ComplianceLine>> {
    let ids: Vec<EnrolmentId> = enrolments.iter().map(|e| e.id.clone()).collect();
    let learners: Vec<String> = enrolments.iter().map(|e| e.learner.clone()).collect();
    let records = activities::records_of(conn, tenant, &ids)?;
    let earned = certifications::of_enrolments(conn, tenant, &ids)?;
    let pathway_id = enrolments.first().map(|e| e.pathway_id.clone());
    let holdings = match &pathway_id {
        Some(pathway_id) => {
            certifications::of_learners_in_pathway(conn, tenant, pathway_id, &learners)?
        }
        None => HashMap::new(),
    };
    let at = now();
    let mut lines = Vec::with_capacity(enrolments.len());
    for enrolment in enrolments {
        let pathway = match cached.entry(enrolment.pathway_version) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => {
                let snapshot = versions::get(
                    conn,
                    tenant,
                    &enrolment.pathway_id,
                    enrolment.pathway_version,
                )?
                .ok_or_else(|| {
                    AppError::Unavailable("a pathway version is not cached yet; retry".into())
                })?;
                slot.insert(snapshot)
            }
        };
        let record = records.get(&enrolment.id).cloned().unwrap_or_default();
        let progress = progress::compute(pathway, &record, enrolment.status, enrolment.due_at, at);
        // A valid certification (window and grace included) keeps its holder compliant
        // while a recertification cycle is open; otherwise the current enrolment decides.
        let held = holdings
            .get(&enrolment.learner)
            .and_then(|held| certification::held(held, at));
        let state = match held {
            Some(_) => Compliance::Compliant,
            None => certification::compliance(
                progress.status,
                earned.get(&enrolment.id).map(|c| c.status(at)),
            ),
        };
        let cert = held.or(earned.get(&enrolment.id));
        lines.push(ComplianceLine {
            state,
            percent: progress.percent,
            completed_at: progress.completed_at,
            certification_expires_at: cert.and_then(|c| c.expires_at),
            certification_status: cert.map(|c| c.status(at)),
            enrolment,
        });
    }
    Ok(lines)
}
