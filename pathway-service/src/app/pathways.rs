//! Pathways: drafts, steps, publishing and versions.

use lms_platform::db::DbConnection;
use lms_platform::ids::{PathwayId, TenantId};
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::{AppError, AppResult, Principal, Role, audit, idempotency};

use super::{PathwayApp, parse_token_number, require_in_reach, top_level};
use crate::domain::cmi5::{ImportedUnit, MoveOn};
use crate::domain::pathway::{
    Pathway, PathwayFilter, PathwaySettings, PathwayStatus, VersionRecord, check_publishable,
};
use crate::domain::step::{self, MediaType, Step, StepDetail};
use crate::domain::{Audit, check_etag, now};
use crate::storage::{categories as category_rows, pathways as pathway_rows};

impl PathwayApp {
    pub async fn create_pathway(
        &self,
        who: &Principal,
        settings: PathwaySettings,
        request_id: Option<String>,
    ) -> AppResult<Pathway> {
        let reach = self.administered(who).await?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let request_id = request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreatePathway",
                    request_id.as_deref(),
                    |conn, id| pathway_rows::get(conn, &tenant, &PathwayId::from(id)),
                    |conn| {
                        require_category(conn, &tenant, &settings.category_id)?;
                        let category = &settings.category_id;
                        require_in_reach(conn, &tenant, &reach, category, || {
                            outside_category(category)
                        })?;
                        let pathway = Pathway {
                            id: PathwayId::generate(),
                            settings,
                            status: PathwayStatus::Draft,
                            latest_version: 0,
                            has_unpublished_changes: true,
                            revision: 1,
                            audit: Audit::new(&actor),
                            steps: Vec::new(),
                        };
                        pathway_rows::insert(conn, &tenant, &pathway)?;
                        let resource = format!("pathways/{}", pathway.id);
                        audit::record(conn, &who, audit::Change::created(resource, &pathway)?)?;
                        let id = pathway.id.clone();
                        Ok((id, pathway))
                    },
                )
            })
            .await
    }

    /// Admins read the working draft (scoped admins: of the pathways in their subtrees);
    /// everyone else the latest published version.
    pub async fn get_pathway(&self, who: &Principal, id: PathwayId) -> AppResult<Pathway> {
        let tenant = who.tenant_id.clone();
        // Services see the working pathway too: enrolment-service must tell a draft or an
        // archived pathway from an unknown one.
        let full_view = who.is_admin() || who.has_role(Role::Service);
        // One statement either way, so no transaction around it: the hottest read of the
        // catalogue costs one round trip.
        let published = {
            let (tenant, id) = (tenant.clone(), id.clone());
            self.db
                .read_one(move |conn| {
                    if full_view {
                        return pathway_rows::get(conn, &tenant, &id).map(Some);
                    }
                    match pathway_rows::status_and_latest_version(conn, &tenant, &id)? {
                        Some((PathwayStatus::Published, Some(version))) => {
                            Ok(Some(version.snapshot))
                        }
                        Some((PathwayStatus::Published, None)) => Err(AppError::not_found(
                            format!("a published version of pathway {id}"),
                        )),
                        Some(_) => Ok(None),
                        None => Err(AppError::not_found(format!("pathway {id}"))),
                    }
                })
                .await?
        };
        if let Some(pathway) = published {
            return Ok(pathway);
        }
        // A draft or an archived pathway: shown to whoever administers its category. Only
        // this path asks the decision point, so reading the catalogue never does.
        let reach = self.administered(who).await?;
        self.db
            .read(move |conn| {
                let pathway = pathway_rows::get(conn, &tenant, &id)?;
                let category = pathway.settings.category_id.clone();
                require_in_reach(conn, &tenant, &reach, &category, || {
                    AppError::not_found(format!("pathway {id}"))
                })?;
                Ok(pathway)
            })
            .await
    }

    pub async fn list_pathways(
        &self,
        who: &Principal,
        mut filter: PathwayFilter,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<Pathway>> {
        // A scoped admin sees the admin view of a category they administer when they ask for
        // one by category and status (drafts, archived); the decision point is asked only then,
        // so browsing the catalogue never asks it.
        let admin = who.is_admin()
            || match (&filter.category_id, filter.status) {
                (Some(category), Some(_)) if !who.has_role(Role::Service) => {
                    let reach = self.administered(who).await?;
                    let (tenant, category) = (who.tenant_id.clone(), category.clone());
                    self.db
                        .read(move |conn| {
                            let chain =
                                crate::storage::categories::chain(conn, &tenant, &category)?;
                            Ok(reach.covers_categories(&chain))
                        })
                        .await?
                }
                _ => false,
            };
        if !admin {
            filter.status = None;
        }
        let limit = pagination::page_size(page_size)?;
        let filters = format!("admin={admin};{}", filter.describe());
        let before = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                if admin {
                    pathway_rows::list(conn, &tenant, &filter, before, limit + 1)
                } else {
                    pathway_rows::list_published(conn, &tenant, &filter, before, limit + 1)?
                        .iter()
                        .map(|snapshot| pathway_rows::decode_snapshot(snapshot))
                        .collect()
                }
            })
            .await?;
        Ok(paginate(items, limit, &filters, |p| vec![p.id.to_string()]))
    }

    /// Applies `patch` to the draft's settings. The patch returns the new settings, which are
    /// validated by the caller's conversion.
    pub async fn update_pathway<F>(
        &self,
        who: &Principal,
        id: PathwayId,
        etag: String,
        patch: F,
    ) -> AppResult<Pathway>
    where
        F: FnOnce(&PathwaySettings) -> AppResult<PathwaySettings> + Send + 'static,
    {
        self.edit_draft(who, id, etag, move |conn, tenant, pathway| {
            let settings = patch(&pathway.settings)?;
            if settings.category_id != pathway.settings.category_id {
                require_category(conn, tenant, &settings.category_id)?;
            }
            pathway.settings = settings;
            Ok(false)
        })
        .await
    }

    pub async fn archive_pathway(
        &self,
        who: &Principal,
        id: PathwayId,
        etag: String,
    ) -> AppResult<Pathway> {
        let change = self
            .change_pathway(who, id, etag, |_, _, pathway| {
                // Archiving twice is a no-op, so a retried call succeeds.
                if pathway.status == PathwayStatus::Archived {
                    return Ok(Change::Unchanged(()));
                }
                pathway.status = PathwayStatus::Archived;
                Ok(Change::Settings(()))
            })
            .await?;
        Ok(change.0)
    }

    pub async fn add_step(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        etag: String,
        mut step: Step,
        position: Option<i32>,
    ) -> AppResult<Pathway> {
        let actor = who.subject.clone();
        if let StepDetail::Assessment { assessment_id } = &step.detail {
            self.assessments
                .require_of_pathway(&who.tenant_id, assessment_id, &pathway_id)
                .await?;
        }
        self.edit_draft(who, pathway_id, etag, move |_, _, pathway| {
            step.id = lms_platform::validate::new_id();
            step.audit = Audit::new(&actor);
            step::add_step(&mut pathway.steps, step, position)?;
            Ok(true)
        })
        .await
    }

    /// Adds a cmi5 course structure's AUs to the draft as content steps, in order. An AU
    /// that a step already is (the same AU id: a course re-imported after its publisher
    /// changed it) updates that step instead, keeping its id and so learners' progress.
    pub async fn import_cmi5_course(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        etag: String,
        units: Vec<ImportedUnit>,
    ) -> AppResult<Pathway> {
        let actor = who.subject.clone();
        self.edit_draft(who, pathway_id, etag, move |_, _, pathway| {
            add_imported_units(pathway, units, &actor)?;
            Ok(true)
        })
        .await
    }

    /// Applies `patch` to one step; the kind cannot change. `links_assessment`: the request
    /// names an assessment for the step, which is checked when it changes the link.
    pub async fn update_step<F>(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        step_id: String,
        etag: String,
        links_assessment: bool,
        patch: F,
    ) -> AppResult<Pathway>
    where
        F: Fn(&Step) -> AppResult<Step> + Send + 'static,
    {
        // A step that comes to link another assessment is checked first, outside the
        // transaction: no transaction waits on another service. The patch is pure, so the
        // transaction applies it again to the draft it reads.
        let current = match links_assessment {
            true => Some(self.get_pathway(who, pathway_id.clone()).await?),
            false => None,
        };
        if let Some(step) = current
            .as_ref()
            .and_then(|p| p.steps.iter().find(|s| s.id == step_id))
            && let StepDetail::Assessment {
                assessment_id: before,
            } = &step.detail
            && let Ok(patched) = patch(step)
            && let StepDetail::Assessment { assessment_id } = &patched.detail
            && assessment_id != before
        {
            self.assessments
                .require_of_pathway(&who.tenant_id, assessment_id, &pathway_id)
                .await?;
        }
        let actor = who.subject.clone();
        self.edit_draft(who, pathway_id, etag, move |_, _, pathway| {
            let step = pathway
                .steps
                .iter_mut()
                .find(|s| s.id == step_id)
                .ok_or_else(|| AppError::not_found(format!("step {step_id}")))?;
            let mut updated = patch(step)?;
            if updated.detail.kind() != step.detail.kind() {
                return Err(AppError::invalid_field(
                    "step",
                    format!(
                        "a {} step cannot become {}",
                        step.detail.kind(),
                        updated.detail.kind()
                    ),
                ));
            }
            updated.id = step.id.clone();
            updated.position = step.position;
            updated.audit = Audit {
                updated_at: now(),
                updated_by: actor,
                ..step.audit.clone()
            };
            *step = updated;
            Ok(true)
        })
        .await
    }

    pub async fn reorder_steps(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        etag: String,
        step_ids: Vec<String>,
    ) -> AppResult<Pathway> {
        self.edit_draft(who, pathway_id, etag, move |_, _, pathway| {
            step::reorder_steps(&mut pathway.steps, &step_ids)?;
            Ok(true)
        })
        .await
    }

    pub async fn remove_step(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        step_id: String,
        etag: String,
    ) -> AppResult<Pathway> {
        self.edit_draft(who, pathway_id, etag, move |_, _, pathway| {
            step::remove_step(&mut pathway.steps, &step_id)?;
            Ok(true)
        })
        .await
    }

    /// Runs `edit` on the draft: refuses archived pathways, re-checks prerequisites when steps
    /// changed, and marks the draft as differing from the published version. `edit` returns
    /// whether steps changed.
    pub(super) async fn edit_draft<F>(
        &self,
        who: &Principal,
        id: PathwayId,
        etag: String,
        edit: F,
    ) -> AppResult<Pathway>
    where
        F: FnOnce(&mut DbConnection, &TenantId, &mut Pathway) -> AppResult<bool> + Send + 'static,
    {
        let change = self
            .change_pathway(who, id, etag, move |conn, tenant, pathway| {
                if pathway.status == PathwayStatus::Archived {
                    return Err(AppError::FailedPrecondition(
                        "an archived pathway cannot change".into(),
                    ));
                }
                let steps_changed = edit(conn, tenant, pathway)?;
                if steps_changed {
                    step::check_prerequisites(&pathway.steps)?;
                }
                pathway.has_unpublished_changes = true;
                Ok(if steps_changed {
                    Change::Steps(())
                } else {
                    Change::Settings(())
                })
            })
            .await?;
        Ok(change.0)
    }

    pub async fn publish(
        &self,
        who: &Principal,
        id: PathwayId,
        etag: String,
    ) -> AppResult<VersionRecord> {
        let actor = who.subject.clone();
        let (_, version) = self
            .change_pathway(who, id, etag, move |conn, tenant, pathway| {
                check_publishable(pathway)?;
                pathway.latest_version += 1;
                pathway.status = PathwayStatus::Published;
                pathway.has_unpublished_changes = false;
                let published_at = now();
                // The snapshot is the pathway as it is about to be saved.
                let mut snapshot = pathway.clone();
                snapshot.revision += 1;
                snapshot.audit.updated_at = published_at;
                snapshot.audit.updated_by = actor.clone();
                let record = VersionRecord {
                    pathway_id: pathway.id.clone(),
                    version: pathway.latest_version,
                    published_at,
                    published_by: actor,
                    snapshot,
                };
                pathway_rows::insert_version(conn, tenant, &record)?;
                Ok(Change::Settings(record))
            })
            .await?;
        Ok(version)
    }

    /// The one way a pathway changes: in a transaction, load it, check the caller's etag, let
    /// `change` modify it, then bump the revision, stamp who and when, and save it only if no
    /// one else saved it meanwhile (otherwise ABORTED).
    async fn change_pathway<T, F>(
        &self,
        who: &Principal,
        id: PathwayId,
        etag: String,
        change: F,
    ) -> AppResult<(Pathway, T)>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &TenantId, &mut Pathway) -> AppResult<Change<T>>
            + Send
            + 'static,
    {
        let reach = self.administered(who).await?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut pathway = pathway_rows::get(conn, &tenant, &id)?;
                let outside = || AppError::not_found(format!("pathway {id}"));
                require_in_reach(
                    conn,
                    &tenant,
                    &reach,
                    &pathway.settings.category_id,
                    outside,
                )?;
                check_etag(&etag, pathway.revision)?;
                let expected = pathway.revision;
                let before = pathway.clone();
                let (value, steps_changed) = match change(conn, &tenant, &mut pathway)? {
                    Change::Unchanged(value) => return Ok((pathway, value)),
                    Change::Settings(value) => (value, false),
                    Change::Steps(value) => (value, true),
                };
                if pathway.settings.category_id != before.settings.category_id {
                    // Moved to another category: a scoped admin only within their subtrees.
                    let category = pathway.settings.category_id.clone();
                    require_in_reach(conn, &tenant, &reach, &category, || {
                        outside_category(&category)
                    })?;
                }
                touch_pathway(&mut pathway, &actor);
                pathway_rows::save(conn, &tenant, &pathway, expected, steps_changed)?;
                let resource = format!("pathways/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &before, &pathway)?,
                )?;
                Ok((pathway, value))
            })
            .await
    }

    pub async fn get_version(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        version: i32,
    ) -> AppResult<VersionRecord> {
        if version < 0 {
            return Err(AppError::invalid_field("version", "must not be negative"));
        }
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                if pathway_rows::status(conn, &tenant, &pathway_id)?.is_none() {
                    return Err(AppError::not_found(format!("pathway {pathway_id}")));
                }
                pathway_rows::get_version(conn, &tenant, &pathway_id, version)
            })
            .await
    }

    pub async fn list_versions(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<VersionRecord>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("pathway={pathway_id}");
        let before = match pagination::decode_key(&page_token, &filters)? {
            None => None,
            Some([version]) => Some(parse_token_number(&version)?),
        };
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                if pathway_rows::status(conn, &tenant, &pathway_id)?.is_none() {
                    return Err(AppError::not_found(format!("pathway {pathway_id}")));
                }
                pathway_rows::list_versions(conn, &tenant, &pathway_id, before, limit + 1)
            })
            .await?;
        Ok(paginate(items, limit, &filters, |v| {
            vec![v.version.to_string()]
        }))
    }
}

/// What a pathway change touched, so only that is written.
enum Change<T> {
    Unchanged(T),
    Settings(T),
    Steps(T),
}

/// A pathway may only point at a category of its own tenant; the category stays locked until
/// the pathway is written, so it cannot be deleted in between.
fn require_category(
    conn: &mut DbConnection,
    tenant: &TenantId,
    category_id: &str,
) -> AppResult<()> {
    if category_id.is_empty() {
        return Ok(());
    }
    category_rows::lock(conn, tenant, category_id)
}

/// A pathway's new category outside the caller's reach: the top of the tree, or a category
/// answered as one that does not exist.
fn outside_category(category: &str) -> AppError {
    if category.is_empty() {
        top_level()
    } else {
        AppError::not_found(format!("category {category}"))
    }
}

fn touch_pathway(pathway: &mut Pathway, actor: &str) {
    pathway.revision += 1;
    pathway.audit.updated_at = now();
    pathway.audit.updated_by = actor.to_string();
}

/// Adds a course's AUs to the draft as content steps, in order; an AU a step already is (the
/// same AU id) updates that step, keeping its id.
pub(super) fn add_imported_units(
    pathway: &mut Pathway,
    units: Vec<ImportedUnit>,
    actor: &str,
) -> AppResult<()> {
    for imported in units {
        let detail = StepDetail::Content {
            url: imported.url,
            media_type: MediaType::WebPage,
            cmi5: Some(imported.unit.clone()),
        };
        let existing = pathway.steps.iter_mut().find(|s| {
            matches!(&s.detail, StepDetail::Content { cmi5: Some(unit), .. }
                if unit.activity_id == imported.unit.activity_id)
        });
        if let Some(step) = existing {
            step.title = imported.title;
            step.description = imported.description;
            step.detail = detail;
            step.audit.touch(actor);
            continue;
        }
        let step = Step {
            id: lms_platform::validate::new_id(),
            title: imported.title,
            description: imported.description,
            // An AU that nothing completes does not hold the pathway back.
            required: imported.unit.move_on != MoveOn::NotApplicable,
            prerequisites: Vec::new(),
            position: 0,
            estimated_minutes: 0,
            detail,
            audit: Audit::new(actor),
        };
        step::add_step(&mut pathway.steps, step, None)?;
    }
    Ok(())
}
