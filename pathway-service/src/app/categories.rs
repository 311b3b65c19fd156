//! The category tree.

use std::collections::HashMap;

use lms_platform::pagination::{self, Page, paginate};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit, idempotency};

use super::{PathwayApp, parse_token_number, require_in_reach, top_level};
use crate::domain::category::{self, Category, MAX_DEPTH};
use crate::domain::{Audit, check_etag, now};
use crate::storage::categories as category_rows;

/// A node of the category tree.
pub struct TreeNode {
    pub category: Category,
    pub children: Vec<TreeNode>,
    pub pathway_count: i64,
}

/// What a category create carries.
pub struct NewCategory {
    pub parent_id: String,
    pub name: String,
    pub description: String,
    pub sort_order: i32,
    pub request_id: Option<String>,
}

/// New values for the fields named in an update mask.
#[derive(Default)]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub sort_order: Option<i32>,
}

impl PathwayApp {
    pub async fn create_category(&self, who: &Principal, new: NewCategory) -> AppResult<Category> {
        let reach = self.administered(who).await?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let request_id = new.request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateCategory",
                    request_id.as_deref(),
                    |conn, id| category_rows::get(conn, &tenant, id),
                    |conn| {
                        let depth = if new.parent_id.is_empty() {
                            // The top of the tree is the tenant's: refused to scoped admins.
                            require_in_reach(conn, &tenant, &reach, "", top_level)?;
                            0
                        } else {
                            let parent_missing = |_| {
                                AppError::not_found(format!("parent category {}", new.parent_id))
                            };
                            category_rows::lock(conn, &tenant, &new.parent_id)
                                .map_err(parent_missing)?;
                            require_in_reach(conn, &tenant, &reach, &new.parent_id, || {
                                AppError::not_found(format!("parent category {}", new.parent_id))
                            })?;
                            let parent = category_rows::get(conn, &tenant, &new.parent_id)
                                .map_err(parent_missing)?;
                            parent.depth + 1
                        };
                        if depth >= MAX_DEPTH {
                            return Err(AppError::invalid_field(
                                "parent_id",
                                format!("the tree is at most {MAX_DEPTH} levels deep"),
                            ));
                        }
                        let category = Category {
                            id: new_id(),
                            parent_id: new.parent_id,
                            name: new.name.trim().to_string(),
                            description: new.description,
                            sort_order: new.sort_order,
                            depth,
                            revision: 1,
                            audit: Audit::new(&actor),
                        };
                        category_rows::insert(conn, &tenant, &category)?;
                        let resource = format!("categories/{}", category.id);
                        audit::record(conn, &who, audit::Change::created(resource, &category)?)?;
                        let id = category.id.clone();
                        Ok((id, category))
                    },
                )
            })
            .await
    }

    pub async fn get_category(&self, who: &Principal, id: String) -> AppResult<Category> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| category_rows::get(conn, &tenant, &id))
            .await
    }

    pub async fn list_categories(
        &self,
        who: &Principal,
        parent_id: String,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<Category>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("parent={parent_id}");
        let after = match pagination::decode_key(&page_token, &filters)? {
            None => None,
            Some([sort_order, id]) => Some((parse_token_number(&sort_order)?, id)),
        };
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                if !parent_id.is_empty() {
                    category_rows::get(conn, &tenant, &parent_id)?;
                }
                category_rows::list_children(conn, &tenant, &parent_id, after, limit + 1)
            })
            .await?;
        Ok(paginate(items, limit, &filters, |c| {
            vec![c.sort_order.to_string(), c.id.clone()]
        }))
    }

    pub async fn category_tree(
        &self,
        who: &Principal,
        root_id: Option<String>,
    ) -> AppResult<Vec<TreeNode>> {
        let tenant = who.tenant_id.clone();
        let (all, counts) = self
            .db
            .read(move |conn| {
                Ok((
                    category_rows::all(conn, &tenant)?,
                    category_rows::pathway_counts(conn, &tenant)?,
                ))
            })
            .await?;
        let mut children: HashMap<String, Vec<Category>> = HashMap::new();
        for category in all {
            children
                .entry(category.parent_id.clone())
                .or_default()
                .push(category);
        }
        fn build(
            parent: &str,
            children: &mut HashMap<String, Vec<Category>>,
            counts: &HashMap<String, i64>,
        ) -> Vec<TreeNode> {
            let kids = children.remove(parent).unwrap_or_default();
            kids.into_iter()
                .map(|category| TreeNode {
                    children: build(&category.id, children, counts),
                    pathway_count: counts.get(&category.id).copied().unwrap_or(0),
                    category,
                })
                .collect()
        }
        match root_id {
            None => Ok(build("", &mut children, &counts)),
            Some(root) => {
                let category = children
                    .values()
                    .flatten()
                    .find(|c| c.id == root)
                    .cloned()
                    .ok_or_else(|| AppError::not_found(format!("category {root}")))?;
                Ok(vec![TreeNode {
                    children: build(&category.id, &mut children, &counts),
                    pathway_count: counts.get(&category.id).copied().unwrap_or(0),
                    category,
                }])
            }
        }
    }

    pub async fn update_category(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        patch: CategoryPatch,
    ) -> AppResult<Category> {
        let reach = self.administered(who).await?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                require_in_reach(conn, &tenant, &reach, &id, || missing(&id))?;
                let mut category = category_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, category.revision)?;
                let before = category.clone();
                let expected = category.revision;
                if let Some(name) = patch.name {
                    category.name = name.trim().to_string();
                }
                if let Some(description) = patch.description {
                    category.description = description;
                }
                if let Some(sort_order) = patch.sort_order {
                    category.sort_order = sort_order;
                }
                touch(&mut category, &actor);
                category_rows::update(conn, &tenant, &category, expected)?;
                let resource = format!("categories/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &before, &category)?,
                )?;
                Ok(category)
            })
            .await
    }

    pub async fn move_category(
        &self,
        who: &Principal,
        id: String,
        new_parent_id: String,
        etag: String,
    ) -> AppResult<Category> {
        let reach = self.administered(who).await?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                require_in_reach(conn, &tenant, &reach, &id, || missing(&id))?;
                let mut moving = category_rows::get(conn, &tenant, &id)?;
                let before = moving.clone();
                check_etag(&etag, moving.revision)?;
                if !new_parent_id.is_empty() && new_parent_id != id {
                    category_rows::get(conn, &tenant, &new_parent_id).map_err(|_| {
                        AppError::not_found(format!("parent category {new_parent_id}"))
                    })?;
                }
                // A scoped admin moves within what they administer, never out of it.
                require_in_reach(conn, &tenant, &reach, &new_parent_id, || {
                    if new_parent_id.is_empty() {
                        top_level()
                    } else {
                        AppError::not_found(format!("parent category {new_parent_id}"))
                    }
                })?;
                let (links, depths) = category_rows::links(conn, &tenant)?;
                let delta = category::plan_move(&links, &depths, &id, &new_parent_id)?;
                if category_rows::sibling_name_taken(
                    conn,
                    &tenant,
                    &new_parent_id,
                    &moving.name,
                    &id,
                )? {
                    return Err(AppError::AlreadyExists(format!(
                        "the new parent already has a category named {:?}",
                        moving.name
                    )));
                }
                let expected = moving.revision;
                // Descendants first: their depth shifts with the moved category's.
                let mut descendants = category::subtree(&links, &id);
                descendants.retain(|d| d != &id);
                category_rows::shift_depths(conn, &tenant, &descendants, delta)?;
                moving.parent_id = new_parent_id;
                moving.depth += delta;
                touch(&mut moving, &actor);
                category_rows::update(conn, &tenant, &moving, expected)?;
                let resource = format!("categories/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &before, &moving)?,
                )?;
                Ok(moving)
            })
            .await
    }

    pub async fn delete_category(
        &self,
        who: &Principal,
        id: String,
        etag: String,
    ) -> AppResult<()> {
        let reach = self.administered(who).await?;
        let tenant = who.tenant_id.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                require_in_reach(conn, &tenant, &reach, &id, || missing(&id))?;
                // Locked first, so a concurrent add into this category either finishes before
                // the counts below or finds the category gone.
                category_rows::lock(conn, &tenant, &id)?;
                let category = category_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, category.revision)?;
                let children = category_rows::child_count(conn, &tenant, &id)?;
                let pathways = category_rows::pathway_count(conn, &tenant, &id)?;
                if children > 0 || pathways > 0 {
                    return Err(AppError::FailedPrecondition(format!(
                        "category is not empty: it holds {children} categories and {pathways} pathways"
                    )));
                }
                category_rows::delete(conn, &tenant, &id, category.revision)?;
                let resource = format!("categories/{id}");
                audit::record(conn, &who, audit::Change::deleted(resource, &category)?)
            })
            .await
    }
}

/// A category outside the caller's reach is answered as one that does not exist.
fn missing(id: &str) -> AppError {
    AppError::not_found(format!("category {id}"))
}

fn touch(category: &mut Category, actor: &str) {
    category.revision += 1;
    category.audit.updated_at = now();
    category.audit.updated_by = actor.to_string();
}
