//! Category rows.

use lms_platform::ids::TenantId;
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;

use super::schema::{categories, pathways};
use crate::domain::Audit;
use crate::domain::category::{Category, ParentLinks, name_key};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = categories)]
struct CategoryRow {
    id: String,
    tenant_id: String,
    parent_id: String,
    name: String,
    name_key: String,
    description: String,
    sort_order: i32,
    depth: i32,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

impl From<CategoryRow> for Category {
    fn from(row: CategoryRow) -> Self {
        Category {
            id: row.id,
            parent_id: row.parent_id,
            name: row.name,
            description: row.description,
            sort_order: row.sort_order,
            depth: row.depth,
            revision: row.revision,
            audit: Audit {
                created_at: row.created_at,
                created_by: row.created_by,
                updated_at: row.updated_at,
                updated_by: row.updated_by,
            },
        }
    }
}

pub fn insert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    category: &Category,
) -> Result<(), AppError> {
    let row = CategoryRow {
        id: category.id.clone(),
        tenant_id: tenant.to_string(),
        parent_id: category.parent_id.clone(),
        name: category.name.clone(),
        name_key: name_key(&category.name),
        description: category.description.clone(),
        sort_order: category.sort_order,
        depth: category.depth,
        revision: category.revision,
        created_at: category.audit.created_at,
        created_by: category.audit.created_by.clone(),
        updated_at: category.audit.updated_at,
        updated_by: category.audit.updated_by.clone(),
    };
    diesel::insert_into(categories::table)
        .values(&row)
        .execute(conn)
        .map_err(|error| AppError::on_conflict(error, || sibling_exists(&category.name)))?;
    Ok(())
}

fn sibling_exists(name: &str) -> AppError {
    AppError::AlreadyExists(format!("a sibling category is already named {name:?}"))
}

pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Category, AppError> {
    categories::table
        .filter(categories::tenant_id.eq(tenant))
        .filter(categories::id.eq(id))
        .select(CategoryRow::as_select())
        .first(conn)
        .optional()?
        .map(Category::from)
        .ok_or_else(|| AppError::not_found(format!("category {id}")))
}

/// The category's id and its ancestors' ids, nearest first (empty when it does not exist):
/// what a binding on a category subtree is matched against.
pub fn chain(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> Result<Vec<String>, AppError> {
    let mut chain = Vec::new();
    let mut current = id.to_string();
    // The tree is at most MAX_DEPTH deep; the bound also ends a loop bad data could make.
    while !current.is_empty() && chain.len() <= crate::domain::category::MAX_DEPTH as usize {
        let parent = categories::table
            .filter(categories::tenant_id.eq(tenant))
            .filter(categories::id.eq(&current))
            .select(categories::parent_id)
            .first::<String>(conn)
            .optional()?;
        let Some(parent) = parent else { break };
        chain.push(std::mem::replace(&mut current, parent));
    }
    Ok(chain)
}

/// Takes the category's row lock until the transaction ends (a no-op update, portable across
/// both databases), so that adding something to a category and deleting that category are
/// serialised: whichever comes second sees the other's result. NOT_FOUND when it is absent.
pub fn lock(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<(), AppError> {
    let locked = diesel::update(
        categories::table
            .filter(categories::tenant_id.eq(tenant))
            .filter(categories::id.eq(id)),
    )
    .set(categories::revision.eq(categories::revision))
    .execute(conn)?;
    if locked == 0 {
        return Err(AppError::not_found(format!("category {id}")));
    }
    Ok(())
}

/// Children of `parent_id` ordered by (sort_order, id), after the key `after`.
pub fn list_children(
    conn: &mut DbConnection,
    tenant: &TenantId,
    parent_id: &str,
    after: Option<(i32, String)>,
    limit: i64,
) -> Result<Vec<Category>, AppError> {
    let mut query = categories::table
        .filter(categories::tenant_id.eq(tenant))
        .filter(categories::parent_id.eq(parent_id))
        .into_boxed();
    if let Some((sort_order, id)) = after {
        query = query.filter(
            categories::sort_order
                .gt(sort_order)
                .or(categories::sort_order
                    .eq(sort_order)
                    .and(categories::id.gt(id))),
        );
    }
    Ok(query
        .order((categories::sort_order.asc(), categories::id.asc()))
        .limit(limit)
        .select(CategoryRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Category::from)
        .collect())
}

/// The tenant's whole tree, ordered for display.
pub fn all(conn: &mut DbConnection, tenant: &TenantId) -> Result<Vec<Category>, AppError> {
    Ok(categories::table
        .filter(categories::tenant_id.eq(tenant))
        .order((categories::sort_order.asc(), categories::id.asc()))
        .select(CategoryRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Category::from)
        .collect())
}

/// Child → parent links and depths of the tenant's tree.
pub fn links(
    conn: &mut DbConnection,
    tenant: &TenantId,
) -> Result<(ParentLinks, HashMap<String, i32>), AppError> {
    let rows: Vec<(String, String, i32)> = categories::table
        .filter(categories::tenant_id.eq(tenant))
        .select((categories::id, categories::parent_id, categories::depth))
        .load(conn)?;
    let mut links = ParentLinks::new();
    let mut depths = HashMap::new();
    for (id, parent, depth) in rows {
        depths.insert(id.clone(), depth);
        links.insert(id, parent);
    }
    Ok((links, depths))
}

/// Writes name, description, sort order and parent, if the revision is still `expected`.
pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    category: &Category,
    expected_revision: i64,
) -> Result<(), AppError> {
    let changed = diesel::update(
        categories::table
            .filter(categories::tenant_id.eq(tenant))
            .filter(categories::id.eq(&category.id))
            .filter(categories::revision.eq(expected_revision)),
    )
    .set((
        categories::name.eq(&category.name),
        categories::name_key.eq(name_key(&category.name)),
        categories::description.eq(&category.description),
        categories::sort_order.eq(category.sort_order),
        categories::parent_id.eq(&category.parent_id),
        categories::depth.eq(category.depth),
        categories::revision.eq(category.revision),
        categories::updated_at.eq(category.audit.updated_at),
        categories::updated_by.eq(&category.audit.updated_by),
    ))
    .execute(conn)
    .map_err(|error| AppError::on_conflict(error, || sibling_exists(&category.name)))?;
    AppError::unless_updated(changed, "category")
}

/// Shifts the depth of every category in `ids` (a moved subtree) in one statement.
pub fn shift_depths(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
    delta: i32,
) -> Result<(), AppError> {
    if delta == 0 || ids.is_empty() {
        return Ok(());
    }
    diesel::update(
        categories::table
            .filter(categories::tenant_id.eq(tenant))
            .filter(categories::id.eq_any(ids)),
    )
    .set(categories::depth.eq(categories::depth + delta))
    .execute(conn)?;
    Ok(())
}

pub fn sibling_name_taken(
    conn: &mut DbConnection,
    tenant: &TenantId,
    parent_id: &str,
    name: &str,
    except_id: &str,
) -> Result<bool, AppError> {
    let count: i64 = categories::table
        .filter(categories::tenant_id.eq(tenant))
        .filter(categories::parent_id.eq(parent_id))
        .filter(categories::name_key.eq(name_key(name)))
        .filter(categories::id.ne(except_id))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

pub fn child_count(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<i64, AppError> {
    Ok(categories::table
        .filter(categories::tenant_id.eq(tenant))
        .filter(categories::parent_id.eq(id))
        .count()
        .get_result(conn)?)
}

pub fn pathway_count(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> Result<i64, AppError> {
    Ok(pathways::table
        .filter(pathways::tenant_id.eq(tenant))
        .filter(pathways::category_id.eq(id))
        .count()
        .get_result(conn)?)
}

/// Pathways per category, for the tree view.
pub fn pathway_counts(
    conn: &mut DbConnection,
    tenant: &TenantId,
) -> Result<HashMap<String, i64>, AppError> {
    let rows: Vec<(String, i64)> = pathways::table
        .filter(pathways::tenant_id.eq(tenant))
        .filter(pathways::category_id.ne(""))
        .group_by(pathways::category_id)
        .select((pathways::category_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

pub fn delete(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    expected_revision: i64,
) -> Result<(), AppError> {
    let deleted = diesel::delete(
        categories::table
            .filter(categories::tenant_id.eq(tenant))
            .filter(categories::id.eq(id))
            .filter(categories::revision.eq(expected_revision)),
    )
    .execute(conn)?;
    AppError::unless_updated(deleted, "category")?;
    Ok(())
}
