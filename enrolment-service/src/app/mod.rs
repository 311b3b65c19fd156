//! Use cases: who may do what, in which transaction, calling the domain rules and storage.

mod enrolments;

use enrolments::reconcile;
pub use enrolments::{ACCESS_CHECKERS, AssignmentPatch, AssignmentView, LEARNERS, ReconcileReport};

use lms_platform::db::Db;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, Role, idempotency};

use std::collections::HashSet;

use chrono::NaiveDate;
use lms_platform::db::DbConnection;

use crate::clients::pathways::PathwayCatalog;
use crate::domain::assignment::Target;
use crate::domain::audience::{self, Audience, AudienceKind};
use crate::domain::class::{AcademicClass, ClassRole};
use crate::domain::person::{self, Person, PersonStatus, Profile, RowError, UploadRow};
use crate::domain::rules::{self, Rule};
use crate::storage::assignments as assignment_rows;
use crate::storage::audiences::{self as audience_rows, PersonRef};
use crate::storage::classes as class_rows;
use crate::storage::enrolments::Scope;
use crate::storage::people::{self as people_rows, PeopleFilter};

pub const ADMINS: [Role; 1] = [Role::Admin];
/// Roles that read the whole directory.
pub const DIRECTORY_READERS: [Role; 2] = [Role::Admin, Role::Service];
/// Roles that may at least read their own record.
pub const ANY_ROLE: [Role; 4] = [Role::Admin, Role::Service, Role::Instructor, Role::Learner];

/// The most people one upload may carry.
pub const MAX_UPLOAD_ROWS: usize = 200_000;

/// What an upload did.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deactivated: usize,
    pub errors: Vec<RowError>,
}

#[derive(Clone)]
pub struct EnrolmentApp {
    db: Db,
    /// A full sync may deactivate at most this share of the active directory unless forced.
    max_deactivation_share: f64,
    /// pathway-service: which pathways are published, at which version.
    catalog: PathwayCatalog,
}

impl EnrolmentApp {
    pub fn new(db: Db, max_deactivation_share: f64, catalog: PathwayCatalog) -> Self {
        Self {
            db,
            max_deactivation_share,
            catalog,
        }
    }

    pub async fn create_person(
        &self,
        who: &Principal,
        external_id: String,
        profile: Profile,
        request_id: Option<String>,
    ) -> AppResult<Person> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let request_id = request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreatePerson",
                    request_id.as_deref(),
                    |conn, id| people_rows::get(conn, &tenant, id),
                    |conn| {
                        let person = Person {
                            id: new_id(),
                            external_id,
                            profile,
                            revision: 1,
                            audit: Audit::new(&actor),
                        };
                        people_rows::insert(conn, &tenant, &person)?;
                        follow_person(conn, &tenant, &person, &actor)?;
                        let id = person.id.clone();
                        Ok((id, person))
                    },
                )
            })
            .await
    }

    /// Admins and services read anyone; learners and instructors only themselves (anyone
    /// else is NOT_FOUND, as if absent).
    pub async fn get_person(&self, who: &Principal, id: String) -> AppResult<Person> {
        let tenant = who.tenant_id.clone();
        let whole_directory = DIRECTORY_READERS.iter().any(|r| who.has_role(*r));
        let subject = who.subject.clone();
        let person = self
            .db
            .read(move |conn| people_rows::get(conn, &tenant, &id))
            .await?;
        if whole_directory || person.external_id == subject {
            Ok(person)
        } else {
            Err(AppError::not_found(format!("person {}", person.id)))
        }
    }

    pub async fn list_people(
        &self,
        who: &Principal,
        filter: PeopleFilter,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<Person>> {
        let limit = pagination::page_size(page_size)?;
        let filters = filter.describe();
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| people_rows::list(conn, &tenant, &filter, after, limit + 1))
            .await?;
        Ok(paginate(items, limit, &filters, |p| {
            vec![p.external_id.clone()]
        }))
    }

    /// Applies `patch` (the masked fields) to a person's profile.
    pub async fn update_person<F>(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        patch: F,
    ) -> AppResult<Person>
    where
        F: FnOnce(&Person) -> AppResult<Profile> + Send + 'static,
    {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let mut person = people_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, person.revision)?;
                let expected = person.revision;
                person.profile = patch(&person)?;
                person.revision += 1;
                person.audit.touch(&actor);
                people_rows::update(conn, &tenant, &person, expected)?;
                follow_person(conn, &tenant, &person, &actor)?;
                Ok(person)
            })
            .await
    }

    /// The HR sync: plans the whole upload, refuses a full sync that would deactivate too much,
    /// then writes creates, updates and deactivations in one transaction.
    pub async fn upsert_people(
        &self,
        who: &Principal,
        rows: Vec<UploadRow>,
        row_errors: Vec<RowError>,
        full_sync: bool,
        force: bool,
    ) -> AppResult<SyncOutcome> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let max_share = self.max_deactivation_share;
        self.db
            .write(move |conn| {
                // A full sync compares the upload with everyone; any other upload only
                // touches its own rows.
                let existing = if full_sync {
                    people_rows::existing(conn, &tenant)?
                } else {
                    let external_ids: Vec<String> =
                        rows.iter().map(|r| r.external_id.clone()).collect();
                    people_rows::existing_of(conn, &tenant, &external_ids)?
                };
                let active = existing
                    .values()
                    .filter(|p| p.profile.status == PersonStatus::Active)
                    .count();
                let plan = person::plan_sync(rows, row_errors, &existing, full_sync);
                let share = plan.deactivate.len() as f64 / active.max(1) as f64;
                if !force && share > max_share {
                    return Err(AppError::FailedPrecondition(format!(
                        "this full sync would deactivate {} of {active} active people ({:.0} %), \
                         more than the {:.0} % allowed; check the export, or set force",
                        plan.deactivate.len(),
                        share * 100.0,
                        max_share * 100.0
                    )));
                }
                let created = plan.create.len();
                let updated = plan.update.len();
                let mut writes: Vec<(String, String, Profile)> =
                    Vec::with_capacity(created + updated);
                writes.extend(
                    plan.create
                        .into_iter()
                        .map(|(external_id, profile)| (new_id(), external_id, profile)),
                );
                writes.extend(plan.update);
                people_rows::upsert_many(conn, &tenant, &writes, &plan.same_attributes, &actor)?;
                let deactivated = people_rows::deactivate(conn, &tenant, &plan.deactivate, &actor)?;
                if deactivated == 0 && writes.len() <= FOLLOW_PEOPLE_ONE_BY_ONE {
                    // A few changed people (an HR feed's trickle): each one's memberships and
                    // enrolments, rather than every audience of the tenant.
                    for (id, _, _) in &writes {
                        let person = people_rows::get(conn, &tenant, id)?;
                        follow_person(conn, &tenant, &person, &actor)?;
                    }
                } else {
                    refresh_dynamic_audiences(conn, &tenant)?;
                    let report = reconcile(conn, &tenant, Scope::Tenant, &actor)?;
                    tracing::info!(?report, "HR sync applied to enrolments");
                }
                Ok(SyncOutcome {
                    created,
                    updated,
                    unchanged: plan.unchanged,
                    deactivated,
                    errors: plan.errors,
                })
            })
            .await
    }
}

/// What the reconciliation sweep repaired in one tenant.
#[derive(Debug)]
pub struct SweepReport {
    pub tenant: String,
    pub joined: usize,
    pub left: usize,
    pub enrolments: ReconcileReport,
}

/// Deleting an audience or class that a live assignment targets would strand its enrolments.
fn refuse_if_assigned(conn: &mut DbConnection, tenant: &str, target: &Target) -> AppResult<()> {
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
    tenant: &str,
    audience: &Audience,
    rule: &Rule,
) -> AppResult<(usize, usize)> {
    audience_rows::refresh(conn, tenant, &audience.id, rule, today())
}

/// Re-evaluates every dynamic audience of the tenant (after a bulk change, or as a sweep).
/// Up to this many changed people, an upload follows each one (a few indexed statements per
/// audience); beyond, it re-evaluates every dynamic audience in set-based statements.
const FOLLOW_PEOPLE_ONE_BY_ONE: usize = 50;

fn refresh_dynamic_audiences(conn: &mut DbConnection, tenant: &str) -> AppResult<(usize, usize)> {
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
fn follow_person(
    conn: &mut DbConnection,
    tenant: &str,
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

fn view(conn: &mut DbConnection, tenant: &str, audience: Audience) -> AppResult<AudienceView> {
    let count = audience_rows::member_counts(conn, tenant, std::slice::from_ref(&audience.id))?;
    Ok(AudienceView {
        member_count: count.get(&audience.id).copied().unwrap_or(0),
        audience,
    })
}

/// At most this many people may be added or removed in one call.
pub const MAX_MEMBER_CHANGE: usize = 1_000;

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
        self.db
            .write(move |conn| {
                let mut audience = audience_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, audience.revision)?;
                let expected = audience.revision;
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
        self.db
            .write(move |conn| {
                let audience = audience_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, audience.revision)?;
                refuse_if_assigned(conn, &tenant, &Target::Audience(id.clone()))?;
                audience_rows::delete(conn, &tenant, &id)
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
                let matches = audience_rows::matching(conn, &tenant, &rule, today())?;
                let (mut joining, mut leaving) = (Vec::new(), Vec::new());
                if let Some(audience_id) = audience_id {
                    audience_rows::get(conn, &tenant, &audience_id)?;
                    let current = audience_rows::members(conn, &tenant, &audience_id)?;
                    let desired: HashSet<String> = matches.iter().map(|m| m.0.clone()).collect();
                    let (joiners, leavers) = audience::diff(&current, &desired);
                    let joiners: HashSet<String> = joiners.into_iter().collect();
                    joining = matches
                        .iter()
                        .filter(|m| joiners.contains(&m.0))
                        .cloned()
                        .collect();
                    leaving = audience_rows::people_refs(conn, &tenant, &leavers)?;
                }
                Ok(RulePreview {
                    matches,
                    joining,
                    leaving,
                })
            })
            .await
    }

    /// Adds (or with `remove`, removes) people of the tenant to a STATIC audience.
    pub async fn change_members(
        &self,
        who: &Principal,
        audience_id: String,
        person_ids: Vec<String>,
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
                let wanted: HashSet<String> = person_ids.into_iter().collect();
                let (added, removed) = if remove {
                    let leaving: Vec<String> = wanted.intersection(&current).cloned().collect();
                    audience_rows::remove_members(conn, &tenant, &audience_id, &leaving)?;
                    (0, leaving.len())
                } else {
                    let joining: Vec<String> = wanted.difference(&current).cloned().collect();
                    audience_rows::add_members(conn, &tenant, &audience_id, &joining)?;
                    (joining.len(), 0)
                };
                let changed: Vec<String> = wanted.into_iter().collect();
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

/// A class as listed: the class and its (students, instructors) counts.
pub struct ClassView {
    pub class: AcademicClass,
    pub students: i64,
    pub instructors: i64,
}

fn class_view(conn: &mut DbConnection, tenant: &str, class: AcademicClass) -> AppResult<ClassView> {
    let counts = class_rows::counts(conn, tenant, std::slice::from_ref(&class.id))?;
    let (students, instructors) = counts.get(&class.id).copied().unwrap_or((0, 0));
    Ok(ClassView {
        class,
        students,
        instructors,
    })
}

impl EnrolmentApp {
    pub async fn create_class(
        &self,
        who: &Principal,
        mut class: AcademicClass,
        request_id: Option<String>,
    ) -> AppResult<ClassView> {
        let tenant = who.tenant_id.clone();
        class.id = new_id();
        class.revision = 1;
        class.audit = Audit::new(&who.subject);
        self.db
            .write(move |conn| {
                let request_id = request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateClass",
                    request_id.as_deref(),
                    |conn, id| {
                        let existing = class_rows::get(conn, &tenant, id)?;
                        class_view(conn, &tenant, existing)
                    },
                    |conn| {
                        class_rows::insert(conn, &tenant, &class)?;
                        let id = class.id.clone();
                        Ok((id, class_view(conn, &tenant, class)?))
                    },
                )
            })
            .await
    }

    pub async fn get_class(&self, who: &Principal, id: String) -> AppResult<ClassView> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let class = class_rows::get(conn, &tenant, &id)?;
                class_view(conn, &tenant, class)
            })
            .await
    }

    pub async fn list_classes(
        &self,
        who: &Principal,
        term: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<ClassView>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("term={term:?}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                let classes = class_rows::list(conn, &tenant, term, after, limit + 1)?;
                let ids: Vec<String> = classes.iter().map(|c| c.id.clone()).collect();
                let counts = class_rows::counts(conn, &tenant, &ids)?;
                Ok(classes
                    .into_iter()
                    .map(|class| {
                        let (students, instructors) =
                            counts.get(&class.id).copied().unwrap_or((0, 0));
                        ClassView {
                            class,
                            students,
                            instructors,
                        }
                    })
                    .collect())
            })
            .await?;
        Ok(paginate(items, limit, &filters, |v: &ClassView| {
            vec![v.class.code.trim().to_lowercase()]
        }))
    }

    /// Applies `patch` (the masked fields, validated by the caller) to a class.
    pub async fn update_class<F>(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        patch: F,
    ) -> AppResult<ClassView>
    where
        F: FnOnce(&AcademicClass) -> AppResult<AcademicClass> + Send + 'static,
    {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let current = class_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, current.revision)?;
                let mut class = patch(&current)?;
                class.id = current.id.clone();
                class.revision = current.revision + 1;
                class.audit = current.audit.clone();
                class.audit.touch(&actor);
                class_rows::update(conn, &tenant, &class, current.revision)?;
                class_view(conn, &tenant, class)
            })
            .await
    }

    pub async fn delete_class(&self, who: &Principal, id: String, etag: String) -> AppResult<()> {
        let tenant = who.tenant_id.clone();
        self.db
            .write(move |conn| {
                let class = class_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, class.revision)?;
                refuse_if_assigned(conn, &tenant, &Target::Class(id.clone()))?;
                class_rows::delete(conn, &tenant, &id)
            })
            .await
    }

    /// Puts people in a class with `role` (`Some`) or takes them out (`None`).
    pub async fn change_class_members(
        &self,
        who: &Principal,
        class_id: String,
        person_ids: Vec<String>,
        role: Option<ClassRole>,
    ) -> AppResult<(usize, usize, ClassView)> {
        if person_ids.len() > MAX_MEMBER_CHANGE {
            return Err(AppError::invalid_field(
                "person_ids",
                format!("at most {MAX_MEMBER_CHANGE} per call"),
            ));
        }
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let class = class_rows::get(conn, &tenant, &class_id)?;
                let mut unique: Vec<String> = person_ids;
                unique.sort();
                unique.dedup();
                let known = audience_rows::existing_people(conn, &tenant, &unique)?;
                if let Some(unknown) = unique.iter().find(|id| !known.contains(*id)) {
                    return Err(AppError::not_found(format!("person {unknown}")));
                }
                let (added, removed) = match role {
                    Some(role) => (
                        class_rows::set_members(conn, &tenant, &class_id, &unique, role)?,
                        0,
                    ),
                    None => (
                        0,
                        class_rows::remove_members(conn, &tenant, &class_id, &unique)?,
                    ),
                };
                reconcile(conn, &tenant, Scope::People(&unique), &actor)?;
                Ok((added, removed, class_view(conn, &tenant, class)?))
            })
            .await
    }

    pub async fn list_class_members(
        &self,
        who: &Principal,
        class_id: String,
        role: Option<ClassRole>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<(PersonRef, ClassRole)>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("class={class_id};role={role:?}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                class_rows::get(conn, &tenant, &class_id)?;
                class_rows::list_members(conn, &tenant, &class_id, role, after, limit + 1)
            })
            .await?;
        Ok(paginate(
            items,
            limit,
            &filters,
            |m: &(PersonRef, ClassRole)| vec![m.0.1.clone()],
        ))
    }
}
