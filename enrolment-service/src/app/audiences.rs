//! Target audiences: static lists and dynamic rules, and the sweep that keeps them current.
use lms_platform::ids::{PersonId, TenantId};
use std::collections::HashSet;

use chrono::NaiveDate;
use lms_platform::db::DbConnection;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit, idempotency};

use super::reconcile::{ReconcileReport, reconcile};
use super::{EnrolmentApp, MAX_MEMBER_CHANGE};
use crate::domain::assignment::LeavePolicy;
use crate::domain::assignment::Target;
use crate::domain::audience::{self, Audience, AudienceKind, EnrolmentEffect, EnrolmentEffects};
use crate::domain::person::{Person, PersonRef, PersonStatus};
use crate::domain::rules::{self, Rule};
use crate::storage::audience_rules;
use crate::storage::coverage::{self, Scope};
use crate::storage::{assignments as assignment_rows, audiences as audience_rows};

/// What the reconciliation sweep repaired in one tenant.
#[derive(Debug)]
pub struct SweepReport {
    pub tenant: TenantId,
    pub joined: usize,
    pub left: usize,
    pub enrolments: ReconcileReport,
}

/// Deleting an audience or class that a live assignment targets would strand its enrolments.
pub(super) fn refuse_if_assigned(
    conn: &mut DbConnection,
    tenant: &TenantId,
    target: &Target,
) -> AppResult<()> {
    let count = assignment_rows::count_for_target(conn, tenant, target)?;
    if count > 0 {
        return Err(AppError::FailedPrecondition(format!(
            "{count} assignment(s) target it; remove them first"
        )));
    }
    Ok(())
}

/// An audience as listed: the audience and how many members it has.
pub struct AudienceView {
    pub audience: Audience,
    pub member_count: i64,
}

/// What a rule would do.
pub struct RulePreview {
    pub matches: Vec<PersonRef>,
    pub joining: Vec<PersonRef>,
    pub leaving: Vec<PersonRef>,
    /// With an existing audience: what joining and leaving would do to enrolments.
    pub enrolments: EnrolmentEffects,
}

/// New values for the fields named in an update mask.
#[derive(Default)]
pub struct AudiencePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub rule: Option<String>,
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn parse_rule(text: &str) -> AppResult<Rule> {
    rules::parse(text).map_err(|error| AppError::invalid_field("audience.rule", error.to_string()))
}

/// Brings one dynamic audience in line with its rule, set-based; returns (joined, left).
fn refresh_audience(
    conn: &mut DbConnection,
    tenant: &TenantId,
    audience: &Audience,
    rule: &Rule,
) -> AppResult<(usize, usize)> {
    audience_rules::refresh(conn, tenant, &audience.id, rule, today())
}

/// Re-evaluates every dynamic audience of the tenant (after a bulk change, or as a sweep).
/// Up to this many changed people, an upload follows each one (a few indexed statements per
/// audience); beyond, it re-evaluates every dynamic audience in set-based statements.
pub(super) const FOLLOW_PEOPLE_ONE_BY_ONE: usize = 50;

pub(super) fn refresh_dynamic_audiences(
    conn: &mut DbConnection,
    tenant: &TenantId,
) -> AppResult<(usize, usize)> {
    let mut totals = (0, 0);
    for audience in audience_rows::dynamic(conn, tenant)? {
        let rule = parse_rule(&audience.rule)?;
        let (joined, left) = refresh_audience(conn, tenant, &audience, &rule)?;
        totals = (totals.0 + joined, totals.1 + left);
    }
    Ok(totals)
}

/// Keeps one changed person's dynamic memberships current, evaluating the rules in memory
/// (the same semantics as the SQL form), and their assigned enrolments with them.
pub(super) fn follow_person(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &Person,
    actor: &str,
) -> AppResult<()> {
    let today = today();
    for audience in audience_rows::dynamic(conn, tenant)? {
        let rule = parse_rule(&audience.rule)?;
        let belongs = person.profile.status == PersonStatus::Active && rule.matches(person, today);
        let is_member = audience_rows::is_member(conn, tenant, &audience.id, &person.id)?;
        let ids = [person.id.clone()];
        match (belongs, is_member) {
            (true, false) => audience_rows::add_members(conn, tenant, &audience.id, &ids)?,
            (false, true) => audience_rows::remove_members(conn, tenant, &audience.id, &ids)?,
            _ => {}
        }
    }
    reconcile(
        conn,
        tenant,
        Scope::People(std::slice::from_ref(&person.id)),
        actor,
    )?;
    Ok(())
}

fn view(conn: &mut DbConnection, tenant: &TenantId, audience: Audience) -> AppResult<AudienceView> {
    let count = audience_rows::member_counts(conn, tenant, std::slice::from_ref(&audience.id))?;
    Ok(AudienceView {
        member_count: count.get(&audience.id).copied().unwrap_or(0),
        audience,
    })
}

impl EnrolmentApp {
    pub async fn create_audience(
        &self,
        who: &Principal,
        mut audience: Audience,
        request_id: Option<String>,
    ) -> AppResult<AudienceView> {
        let rule = match audience.kind {
            AudienceKind::Dynamic => Some(parse_rule(&audience.rule)?),
            AudienceKind::Static => None,
        };
        let tenant = who.tenant_id.clone();
        audience.id = new_id();
        audience.revision = 1;
        audience.audit = Audit::new(&who.subject);
        let who = who.clone();
        self.db
            .write(move |conn| {
                let request_id = request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateAudience",
                    request_id.as_deref(),
                    |conn, id| {
                        let existing = audience_rows::get(conn, &tenant, id)?;
                        view(conn, &tenant, existing)
                    },
                    |conn| {
                        audience_rows::insert(conn, &tenant, &audience)?;
                        let resource = format!("audiences/{}", audience.id);
                        audit::record(conn, &who, audit::Change::created(resource, &audience)?)?;
                        // A rule applies to everyone who matches now, not only to later changes.
                        if let Some(rule) = &rule {
                            refresh_audience(conn, &tenant, &audience, rule)?;
                        }
                        let id = audience.id.clone();
                        Ok((id, view(conn, &tenant, audience)?))
                    },
                )
            })
            .await
    }

    pub async fn get_audience(&self, who: &Principal, id: String) -> AppResult<AudienceView> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let audience = audience_rows::get(conn, &tenant, &id)?;
                view(conn, &tenant, audience)
            })
            .await
    }

    pub async fn list_audiences(
        &self,
        who: &Principal,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<AudienceView>> {
        let limit = pagination::page_size(page_size)?;
        let after = pagination::decode_key(&page_token, "audiences")?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                let audiences = audience_rows::list(conn, &tenant, after, limit + 1)?;
                let ids: Vec<String> = audiences.iter().map(|a| a.id.clone()).collect();
                let counts = audience_rows::member_counts(conn, &tenant, &ids)?;
                Ok(audiences
                    .into_iter()
                    .map(|audience| AudienceView {
                        member_count: counts.get(&audience.id).copied().unwrap_or(0),
                        audience,
                    })
                    .collect())
            })
            .await?;
        Ok(paginate(items, limit, "audiences", |v: &AudienceView| {
            vec![v.audience.name.trim().to_lowercase()]
        }))
    }

    pub async fn update_audience(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        patch: AudiencePatch,
    ) -> AppResult<AudienceView> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut audience = audience_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, audience.revision)?;
                let expected = audience.revision;
                let before = audience.clone();
                if let Some(name) = patch.name {
                    audience.name = name.trim().to_string();
                }
                if let Some(description) = patch.description {
                    audience.description = description;
                }
                let mut new_rule = None;
                if let Some(rule) = patch.rule {
                    if audience.kind == AudienceKind::Static {
                        return Err(AppError::invalid_field(
                            "audience.rule",
                            "a STATIC audience has no rule",
                        ));
                    }
                    new_rule = Some(parse_rule(&rule)?);
                    audience.rule = rule;
                }
                audience.revision += 1;
                audience.audit.touch(&actor);
                audience_rows::update(conn, &tenant, &audience, expected)?;
                let resource = format!("audiences/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &before, &audience)?,
                )?;
                if let Some(rule) = &new_rule {
                    refresh_audience(conn, &tenant, &audience, rule)?;
                    reconcile(conn, &tenant, Scope::Tenant, &actor)?;
                }
                view(conn, &tenant, audience)
            })
            .await
    }

    pub async fn delete_audience(
        &self,
        who: &Principal,
        id: String,
        etag: String,
    ) -> AppResult<()> {
        let tenant = who.tenant_id.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let audience = audience_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, audience.revision)?;
                refuse_if_assigned(conn, &tenant, &Target::Audience(id.clone()))?;
                audience_rows::delete(conn, &tenant, &id)?;
                let resource = format!("audiences/{id}");
                audit::record(conn, &who, audit::Change::deleted(resource, &audience)?)
            })
            .await
    }

    /// Who `rule` would match, and against an existing audience who would join and leave.
    pub async fn preview_rule(
        &self,
        who: &Principal,
        rule_text: String,
        audience_id: Option<String>,
    ) -> AppResult<RulePreview> {
        let rule = rules::parse(&rule_text)
            .map_err(|error| AppError::invalid_field("rule", error.to_string()))?;
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let matches = audience_rules::matching(conn, &tenant, &rule, today())?;
                let (mut joining, mut leaving) = (Vec::new(), Vec::new());
                let mut enrolments = EnrolmentEffects::default();
                if let Some(audience_id) = audience_id {
                    audience_rows::get(conn, &tenant, &audience_id)?;
                    let current = audience_rows::members(conn, &tenant, &audience_id)?;
                    let desired: HashSet<PersonId> = matches.iter().map(|m| m.0.clone()).collect();
                    let (joiners, leavers) = audience::diff(&current, &desired);
                    let joiners: HashSet<PersonId> = joiners.into_iter().collect();
                    joining = matches
                        .iter()
                        .filter(|m| joiners.contains(&m.0))
                        .cloned()
                        .collect();
                    let joiners: Vec<PersonId> = joiners.into_iter().collect();
                    enrolments =
                        enrolment_effects(conn, &tenant, &audience_id, &joiners, &leavers)?;
                    leaving = audience_rows::people_refs(conn, &tenant, &leavers)?;
                }
                Ok(RulePreview {
                    matches,
                    joining,
                    leaving,
                    enrolments,
                })
            })
            .await
    }

    /// Adds (or with `remove`, removes) people of the tenant to a STATIC audience.
    pub async fn change_members(
        &self,
        who: &Principal,
        audience_id: String,
        person_ids: Vec<PersonId>,
        remove: bool,
    ) -> AppResult<(usize, usize, i64)> {
        if person_ids.len() > MAX_MEMBER_CHANGE {
            return Err(AppError::invalid_field(
                "person_ids",
                format!("at most {MAX_MEMBER_CHANGE} per call"),
            ));
        }
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let audience = audience_rows::get(conn, &tenant, &audience_id)?;
                if audience.kind == AudienceKind::Dynamic {
                    return Err(AppError::FailedPrecondition(
                        "a DYNAMIC audience's members follow its rule; change the rule".into(),
                    ));
                }
                let known = audience_rows::existing_people(conn, &tenant, &person_ids)?;
                if let Some(unknown) = person_ids.iter().find(|id| !known.contains(*id)) {
                    return Err(AppError::not_found(format!("person {unknown}")));
                }
                let current = audience_rows::members(conn, &tenant, &audience_id)?;
                let wanted: HashSet<PersonId> = person_ids.into_iter().collect();
                let (added, removed) = if remove {
                    let leaving: Vec<PersonId> = wanted.intersection(&current).cloned().collect();
                    audience_rows::remove_members(conn, &tenant, &audience_id, &leaving)?;
                    (0, leaving.len())
                } else {
                    let joining: Vec<PersonId> = wanted.difference(&current).cloned().collect();
                    audience_rows::add_members(conn, &tenant, &audience_id, &joining)?;
                    (joining.len(), 0)
                };
                let changed: Vec<PersonId> = wanted.into_iter().collect();
                let what = if remove { "removed" } else { "added" };
                let resource = format!("audiences/{audience_id}/members");
                let people = serde_json::json!({ what: &changed });
                audit::record(conn, &who, audit::Change::acted(resource, &people)?)?;
                reconcile(conn, &tenant, Scope::People(&changed), &actor)?;
                let count = view(conn, &tenant, audience)?.member_count;
                Ok((added, removed, count))
            })
            .await
    }

    pub async fn list_members(
        &self,
        who: &Principal,
        audience_id: String,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<PersonRef>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("audience={audience_id}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                audience_rows::get(conn, &tenant, &audience_id)?;
                audience_rows::list_members(conn, &tenant, &audience_id, after, limit + 1)
            })
            .await?;
        Ok(paginate(items, limit, &filters, |m: &PersonRef| {
            vec![m.1.clone()]
        }))
    }

    /// The reconciliation sweep: re-evaluates every dynamic audience of every tenant and
    /// reports per tenant who joined and who left. Membership is otherwise kept current on
    /// every change; the sweep repairs drift and applies rules that move with the calendar
    /// (`now() - 90d`). Each tenant is one transaction.
    pub async fn sweep_audiences(&self) -> AppResult<Vec<SweepReport>> {
        let tenants = self
            .db
            .read(|conn| {
                let mut tenants = audience_rows::tenants_with_dynamic_audiences(conn)?;
                tenants.extend(assignment_rows::tenants_with_assignments(conn)?);
                tenants.sort();
                tenants.dedup();
                Ok(tenants)
            })
            .await?;
        let mut report = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let scope = tenant.clone();
            let (joined, left, enrolments) = self
                .db
                .write(move |conn| {
                    let (joined, left) = refresh_dynamic_audiences(conn, &scope)?;
                    let enrolments = reconcile(conn, &scope, Scope::Tenant, "audience-sweep")?;
                    Ok((joined, left, enrolments))
                })
                .await?;
            report.push(SweepReport {
                tenant,
                joined,
                left,
                enrolments,
            });
        }
        Ok(report)
    }

    /// One run of the periodic sweep, logging what it repaired.
    pub async fn sweep_and_log(&self) {
        match self.sweep_audiences().await {
            Ok(report) => {
                for tenant in report {
                    if tenant.joined + tenant.left > 0 || !tenant.enrolments.is_empty() {
                        tracing::info!(
                            tenant = %tenant.tenant,
                            joined = tenant.joined,
                            left = tenant.left,
                            enrolled = tenant.enrolments.enrolled,
                            suspended = tenant.enrolments.suspended,
                            resumed = tenant.enrolments.resumed,
                            withdrawn = tenant.enrolments.withdrawn,
                            "audience sweep repaired memberships and enrolments"
                        );
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "audience sweep failed; retrying next time"),
        }
    }
}

/// What `joiners` joining and `leavers` leaving the audience would do to enrolments, by the
/// rules reconciliation applies (see `coverage`).
fn enrolment_effects(
    conn: &mut DbConnection,
    tenant: &TenantId,
    audience_id: &str,
    joiners: &[PersonId],
    leavers: &[PersonId],
) -> AppResult<EnrolmentEffects> {
    let effect = |e: coverage::Effect| EnrolmentEffect {
        learner: e.learner,
        pathway_id: e.pathway_id,
        assignment_id: e.assignment_id,
    };
    let mut effects = EnrolmentEffects {
        created: coverage::created_for_joiners(conn, tenant, audience_id, joiners)?
            .into_iter()
            .map(effect)
            .collect(),
        ..Default::default()
    };
    for held in coverage::held_by_leavers(conn, tenant, audience_id, leavers)? {
        let policy = LeavePolicy::parse(&held.leave_policy).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "assignment {} has leave policy {:?}",
                held.assignment_id,
                held.leave_policy
            ))
        })?;
        match policy {
            LeavePolicy::Suspend => effects.suspended.push(effect(held)),
            LeavePolicy::WithdrawIfNotStarted if !held.started => {
                effects.withdrawn.push(effect(held))
            }
            LeavePolicy::WithdrawIfNotStarted | LeavePolicy::Keep => {}
        }
    }
    Ok(effects)
}
