//! Categories: a tree per tenant.

use std::collections::HashMap;

use lms_platform::AppError;

use super::Audit;

/// At most this many levels; a root has depth 0.
pub const MAX_DEPTH: i32 = 10;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Category {
    pub id: String,
    /// Empty for a root.
    pub parent_id: String,
    pub name: String,
    pub description: String,
    pub sort_order: i32,
    pub depth: i32,
    pub revision: i64,
    pub audit: Audit,
}

/// The key that makes sibling names unique ignoring case.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The parent links of a tenant's whole tree: child id → parent id ("" for roots).
pub type ParentLinks = HashMap<String, String>;

/// Ids of `root` and every category below it.
pub fn subtree(links: &ParentLinks, root: &str) -> Vec<String> {
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for (child, parent) in links {
        children
            .entry(parent.as_str())
            .or_default()
            .push(child.as_str());
    }
    let mut found = vec![root.to_string()];
    let mut next = 0;
    while next < found.len() {
        if let Some(kids) = children.get(found[next].as_str()) {
            found.extend(kids.iter().map(|k| k.to_string()));
        }
        next += 1;
    }
    found
}

/// Depth of `id` counted from the root (0 for a root).
fn depth_of(links: &ParentLinks, id: &str) -> i32 {
    let mut depth = 0;
    let mut current = links.get(id).map(String::as_str).unwrap_or("");
    while !current.is_empty() && depth <= MAX_DEPTH + 1 {
        depth += 1;
        current = links.get(current).map(String::as_str).unwrap_or("");
    }
    depth
}

/// Checks a move of `moving` under `new_parent` ("" for the root) and returns the change in
/// depth to apply to the moved subtree.
pub fn plan_move(
    links: &ParentLinks,
    depths: &HashMap<String, i32>,
    moving: &str,
    new_parent: &str,
) -> Result<i32, AppError> {
    let moved = subtree(links, moving);
    if !new_parent.is_empty() && moved.iter().any(|id| id == new_parent) {
        return Err(AppError::invalid_field(
            "new_parent_id",
            "cannot move a category under itself or one of its descendants",
        ));
    }
    let new_depth = if new_parent.is_empty() {
        0
    } else {
        depth_of(links, new_parent) + 1
    };
    let old_depth = depths.get(moving).copied().unwrap_or(0);
    let delta = new_depth - old_depth;
    let deepest = moved
        .iter()
        .filter_map(|id| depths.get(id))
        .max()
        .copied()
        .unwrap_or(old_depth);
    if deepest + delta >= MAX_DEPTH {
        return Err(AppError::invalid_field(
            "new_parent_id",
            format!("the tree would be deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (ParentLinks, HashMap<String, i32>) {
        // a ─ b ─ c      d
        let links: ParentLinks = [("a", ""), ("b", "a"), ("c", "b"), ("d", "")]
            .into_iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect();
        let depths = [("a", 0), ("b", 1), ("c", 2), ("d", 0)]
            .into_iter()
            .map(|(c, d)| (c.to_string(), d))
            .collect();
        (links, depths)
    }

    #[test]
    fn moving_under_a_descendant_is_refused() {
        let (links, depths) = tree();
        assert!(plan_move(&links, &depths, "a", "c").is_err());
        assert!(plan_move(&links, &depths, "a", "a").is_err());
    }

    #[test]
    fn moving_a_subtree_shifts_its_depth() {
        let (links, depths) = tree();
        assert_eq!(plan_move(&links, &depths, "b", "d").unwrap(), 0);
        assert_eq!(plan_move(&links, &depths, "b", "").unwrap(), -1);
        assert_eq!(plan_move(&links, &depths, "d", "c").unwrap(), 3);
    }

    #[test]
    fn a_move_that_makes_the_tree_too_deep_is_refused() {
        let mut links = ParentLinks::new();
        let mut depths = HashMap::new();
        let mut parent = String::new();
        for depth in 0..MAX_DEPTH {
            let id = format!("n{depth}");
            links.insert(id.clone(), parent.clone());
            depths.insert(id.clone(), depth);
            parent = id;
        }
        links.insert("x".into(), String::new());
        depths.insert("x".into(), 0);
        assert!(plan_move(&links, &depths, "x", &parent).is_err());
        assert!(plan_move(&links, &depths, "x", "n5").is_ok());
    }

    #[test]
    fn subtree_lists_every_descendant() {
        let (links, _) = tree();
        let mut ids = subtree(&links, "a");
        ids.sort();
        assert_eq!(ids, ["a", "b", "c"]);
    }
}
