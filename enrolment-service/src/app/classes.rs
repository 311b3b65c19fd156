//! Academic classes: students and instructors.

use lms_platform::db::DbConnection;
use lms_platform::ids::{PersonId, TenantId};
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit, idempotency};

use super::audiences::refuse_if_assigned;
use super::reconcile::reconcile;
use super::{EnrolmentApp, MAX_MEMBER_CHANGE};
use crate::domain::assignment::Target;
use crate::domain::class::{AcademicClass, ClassRole};
use crate::domain::person::PersonRef;
use crate::storage::coverage::Scope;
use crate::storage::{audiences as audience_rows, classes as class_rows};

/// A class as listed: the class and its (students, instructors) counts.
pub struct ClassView {
    pub class: AcademicClass,
    pub students: i64,
    pub instructors: i64,
}

fn class_view(
    conn: &mut DbConnection,
    tenant: &TenantId,
    class: AcademicClass,
) -> AppResult<ClassView> {
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
        let who = who.clone();
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
                        let resource = format!("classes/{}", class.id);
                        audit::record(conn, &who, audit::Change::created(resource, &class)?)?;
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
        let who = who.clone();
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
                let resource = format!("classes/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &current, &class)?,
                )?;
                class_view(conn, &tenant, class)
            })
            .await
    }

    pub async fn delete_class(&self, who: &Principal, id: String, etag: String) -> AppResult<()> {
        let tenant = who.tenant_id.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let class = class_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, class.revision)?;
                refuse_if_assigned(conn, &tenant, &Target::Class(id.clone()))?;
                class_rows::delete(conn, &tenant, &id)?;
                let resource = format!("classes/{id}");
                audit::record(conn, &who, audit::Change::deleted(resource, &class)?)
            })
            .await
    }

    /// Puts people in a class with `role` (`Some`) or takes them out (`None`).
    pub async fn change_class_members(
        &self,
        who: &Principal,
        class_id: String,
        person_ids: Vec<PersonId>,
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
        let who = who.clone();
        self.db
            .write(move |conn| {
                let class = class_rows::get(conn, &tenant, &class_id)?;
                let mut unique: Vec<PersonId> = person_ids;
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
                let resource = format!("classes/{class_id}/members");
                let people = match role {
                    Some(role) => serde_json::json!({ "added": &unique, "role": role }),
                    None => serde_json::json!({ "removed": &unique }),
                };
                audit::record(conn, &who, audit::Change::acted(resource, &people)?)?;
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
