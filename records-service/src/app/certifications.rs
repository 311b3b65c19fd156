//! Certifications: issued on completing a certification pathway, revoked by admins, announced
//! when their recertification window opens, verified publicly by code.

use chrono::NaiveDateTime;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use lms_platform::outbox;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::now;
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit};

use super::learner_statements::store_lms_statements;
use super::xapi::home_page;
use super::{RecordsApp, is_staff};
use crate::domain::certification::{self, Certification};
use crate::domain::enrolment::Enrolment;
use crate::domain::pathway::{CertificationPolicy, PathwaySnapshot};
use crate::domain::xapi::achievements;
use crate::events;
use crate::storage::certifications as stored;

impl RecordsApp {
    pub async fn list_certifications(
        &self,
        who: &Principal,
        learner: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<Certification>> {
        let learner = self.team_readable_learner(who, learner).await?;
        let limit = pagination::page_size(page_size)?;
        let filters = format!("learner={learner}");
        let before = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| stored::of_learner(conn, &tenant, &learner, before, limit + 1))
            .await?;
        Ok(paginate(items, limit, &filters, |c: &Certification| {
            vec![c.id.clone()]
        }))
    }

    pub async fn get_certification(&self, who: &Principal, id: String) -> AppResult<Certification> {
        let tenant = who.tenant_id.clone();
        let found = self
            .db
            .read(move |conn| stored::get(conn, &tenant, &id))
            .await?;
        if !is_staff(who) && found.learner != who.subject {
            return Err(AppError::not_found(format!("certification {}", found.id)));
        }
        Ok(found)
    }

    pub async fn revoke_certification(
        &self,
        who: &Principal,
        id: String,
        reason: String,
    ) -> AppResult<Certification> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let before = stored::get(conn, &tenant, &id)?;
                if !stored::revoke(conn, &tenant, &id, now(), &reason, &actor)? {
                    return Err(AppError::FailedPrecondition(format!(
                        "certification {id} is revoked already"
                    )));
                }
                tracing::info!(certification = %id, %actor, "certification revoked");
                let after = stored::get(conn, &tenant, &id)?;
                let revoked = achievements::certification_revoked(
                    tenant.as_str(),
                    &home_page(&tenant),
                    &after,
                );
                store_lms_statements(conn, &tenant, vec![revoked])?;
                let resource = format!("certifications/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &before, &after)?,
                )?;
                Ok(after)
            })
            .await
    }

    /// One run of the certification scheduler, logging what it announced.
    pub async fn announce_expiring_and_log(&self) {
        match self.announce_expiring(now()).await {
            Ok(0) => {}
            Ok(announced) => tracing::info!(announced, "recertification windows announced"),
            Err(error) => tracing::warn!(%error, "certification scan failed; retrying next time"),
        }
        match self.announce_expired(now()).await {
            Ok(0) => {}
            Ok(announced) => tracing::info!(announced, "expired certifications announced"),
            Err(error) => tracing::warn!(%error, "expiry scan failed; retrying next time"),
        }
    }

    /// The scheduler's other step: every certification whose expiry date has passed by `at`
    /// is announced once (a CertificationExpired event in its transaction) — unless a newer
    /// cycle of the same pathway was issued to its holder, who is certified still. Safe with
    /// several replicas. Returns how many it announced.
    pub async fn announce_expired(&self, at: NaiveDateTime) -> AppResult<usize> {
        let due = self
            .db
            .read(move |conn| stored::due_for_expiry(conn, at, 1_000))
            .await?;
        let mut announced = 0;
        for certification in due {
            let done = self
                .db
                .write(move |conn| {
                    if !stored::mark_expired_announced(conn, &certification, at)? {
                        return Ok(false);
                    }
                    if !is_latest_cycle(conn, &certification)? {
                        return Ok(false);
                    }
                    let event = events::certification_expired(&certification);
                    outbox::enqueue(conn, &certification.tenant_id, vec![event])?;
                    Ok(true)
                })
                .await?;
            announced += usize::from(done);
        }
        Ok(announced)
    }

    /// The certification scheduler's step: every certification whose recertification window
    /// has opened by `at` is announced once (a CertificationExpiring event in its transaction).
    /// Safe with several replicas: the conditional update lets exactly one announce each.
    /// Returns how many it announced.
    pub async fn announce_expiring(&self, at: NaiveDateTime) -> AppResult<usize> {
        let due = self
            .db
            .read(move |conn| stored::due_for_announcement(conn, at, 1_000))
            .await?;
        let mut announced = 0;
        for certification in due {
            let done = self
                .db
                .write(move |conn| {
                    if !stored::mark_announced(conn, &certification, at)? {
                        return Ok(false);
                    }
                    // Renewed since the scan read it: its holder is certified by the newer
                    // cycle, and this one's window is nothing to announce.
                    if !is_latest_cycle(conn, &certification)? {
                        return Ok(false);
                    }
                    let event = events::certification_expiring(&certification);
                    outbox::enqueue(conn, &certification.tenant_id, vec![event])?;
                    Ok(true)
                })
                .await?;
            announced += usize::from(done);
        }
        Ok(announced)
    }

    /// Public verification by code: no principal, any tenant.
    pub async fn verify_certificate(&self, code: String) -> AppResult<Certification> {
        self.db
            .read_one(move |conn| {
                stored::by_code(conn, &code)?.ok_or_else(|| AppError::not_found("certificate"))
            })
            .await
    }
}

/// Issues the next certification cycle for a completed certification pathway.
pub(super) fn issue_certification(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: &Enrolment,
    pathway: &PathwaySnapshot,
    policy: CertificationPolicy,
    completed_at: NaiveDateTime,
) -> AppResult<()> {
    if stored::exists_for_enrolment(conn, tenant, &enrolment.id)? {
        return Ok(());
    }
    let previous =
        stored::latest(conn, tenant, &enrolment.learner, &enrolment.pathway_id)?.map(|p| {
            certification::PreviousCycle {
                expires_at: p.expires_at,
                window_days: p.window_days,
            }
        });
    let cycle = stored::cycles(conn, tenant, &enrolment.learner, &enrolment.pathway_id)? + 1;
    let issued = Certification {
        id: new_id(),
        tenant_id: tenant.clone(),
        learner: enrolment.learner.clone(),
        pathway_id: enrolment.pathway_id.clone(),
        pathway_title: pathway.title.clone(),
        pathway_version: enrolment.pathway_version,
        enrolment_id: enrolment.id.clone(),
        cycle,
        completed_at,
        issued_at: now(),
        expires_at: certification::expiry(policy, completed_at, previous),
        window_days: policy.window_days,
        grace_days: policy.grace_days,
        verification_code: certification::new_verification_code(),
        revoked_at: None,
        revoke_reason: String::new(),
        revoked_by: String::new(),
        expiring_announced_at: None,
    };
    stored::insert(conn, &issued)?;
    let earned = achievements::certification_issued(tenant.as_str(), &home_page(tenant), &issued);
    store_lms_statements(conn, tenant, vec![earned])?;
    outbox::enqueue(conn, tenant, vec![events::certification_issued(&issued)])?;
    tracing::info!(learner = %enrolment.learner, pathway = %enrolment.pathway_id, cycle, "certification issued");
    Ok(())
}

/// Whether `certification` is its holder's latest cycle of the pathway (a renewal is a newer
/// cycle, which announcements about this one would contradict).
fn is_latest_cycle(conn: &mut DbConnection, certification: &Certification) -> AppResult<bool> {
    let latest = stored::latest(
        conn,
        &certification.tenant_id,
        &certification.learner,
        &certification.pathway_id,
    )?;
    Ok(latest.is_none_or(|l| l.id == certification.id))
}
