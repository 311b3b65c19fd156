//! Update masks as AIP-134 describes them, one reading for every Update RPC:
//!
//! - a mask names the fields to change, in snake_case or lowerCamelCase (`job_title` or
//!   `jobTitle`, the JSON spelling REST clients see in errors and documents);
//! - `*` replaces every updatable field;
//! - no mask (or an empty one) means the fields the request populates: a title-only update
//!   changes the title and nothing else. (Over REST the gateway sends the fields present in the
//!   body, so a field given as `""` is cleared there too.)
//! - a path that is a field of the resource but not updatable (output only, immutable, the
//!   etag) is ignored, as AIP-203 asks for output-only fields; a path that is no field of the
//!   resource is INVALID_ARGUMENT.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use prost_types::FieldMask;

use crate::error::AppResult;
use crate::validate::Violations;

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(lms_proto::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes")
    })
}

fn descriptor<M: prost::Name>() -> MessageDescriptor {
    pool()
        .get_message_by_name(&M::full_name())
        .expect("every generated message is in the descriptor set")
}

/// The updatable paths (each one of `updatable`, in its order) that `mask` asks to change on
/// `resource`.
pub fn update_paths<M>(
    mask: Option<&FieldMask>,
    resource: &M,
    updatable: &[&str],
) -> AppResult<Vec<String>>
where
    M: prost::Message + prost::Name,
{
    let descriptor = descriptor::<M>();
    let given: Vec<String> = mask
        .map(|m| m.paths.iter().map(|p| snake_case(p.trim())).collect())
        .unwrap_or_default();
    if given.is_empty() {
        let populated = populated_fields(&descriptor, resource);
        return Ok(updatable
            .iter()
            .filter(|path| populated.iter().any(|field| field == *path))
            .map(|path| path.to_string())
            .collect());
    }
    if given.iter().any(|path| path == "*") {
        if given.len() > 1 {
            let mut v = Violations::new();
            v.add("update_mask", "\"*\" replaces every field and stands alone");
            v.finish()?;
        }
        return Ok(updatable.iter().map(|path| path.to_string()).collect());
    }
    let mut v = Violations::new();
    for path in &given {
        let top = path.split('.').next().unwrap_or_default();
        // A oneof is named by its own name (`questions`) as well as by its members'.
        let is_oneof = descriptor.oneofs().any(|oneof| oneof.name() == top);
        if descriptor.get_field_by_name(top).is_none() && !is_oneof {
            v.add(
                "update_mask",
                format!(
                    "{path:?} is not a field of {}; updatable: {}",
                    descriptor.name(),
                    updatable.join(", ")
                ),
            );
        }
    }
    v.finish()?;
    // A member of a oneof (`fixed`) stands for the oneof (`questions`) where that is what
    // can be updated.
    let given: Vec<String> = given
        .into_iter()
        .flat_map(|path| {
            let oneof = descriptor
                .get_field_by_name(&path)
                .and_then(|field| field.containing_oneof())
                .filter(|oneof| !oneof.is_synthetic())
                .map(|oneof| oneof.name().to_string());
            std::iter::once(path).chain(oneof)
        })
        .collect();
    Ok(updatable
        .iter()
        .filter(|path| given.iter().any(|given| given == *path))
        .map(|path| path.to_string())
        .collect())
}

/// The names of the fields `resource` carries on the wire: proto3 leaves out a field holding
/// its default value, so these are the fields the caller set.
fn populated_fields<M: prost::Message>(
    descriptor: &MessageDescriptor,
    resource: &M,
) -> Vec<String> {
    match DynamicMessage::decode(descriptor.clone(), resource.encode_to_vec().as_slice()) {
        Ok(message) => message
            .fields()
            .flat_map(|(field, _)| {
                // A set member of a oneof populates the oneof too.
                let oneof = field
                    .containing_oneof()
                    .filter(|oneof| !oneof.is_synthetic())
                    .map(|oneof| oneof.name().to_string());
                std::iter::once(field.name().to_string()).chain(oneof)
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `jobTitle` → `job_title`; a snake_case path is unchanged.
fn snake_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lms_proto::pathway_v1::Category;

    const UPDATABLE: &[&str] = &["name", "description", "sort_order"];

    fn mask(paths: &[&str]) -> Option<FieldMask> {
        Some(FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        })
    }

    #[test]
    fn no_mask_means_the_populated_fields() {
        let category = Category {
            name: "Safety".into(),
            ..Default::default()
        };
        assert_eq!(update_paths(None, &category, UPDATABLE).unwrap(), ["name"]);
        assert_eq!(
            update_paths(mask(&[]).as_ref(), &category, UPDATABLE).unwrap(),
            ["name"]
        );
    }

    #[test]
    fn both_spellings_and_the_wildcard_are_accepted() {
        let category = Category::default();
        assert_eq!(
            update_paths(mask(&["sortOrder", "name"]).as_ref(), &category, UPDATABLE).unwrap(),
            ["name", "sort_order"]
        );
        assert_eq!(
            update_paths(mask(&["sort_order"]).as_ref(), &category, UPDATABLE).unwrap(),
            ["sort_order"]
        );
        assert_eq!(
            update_paths(mask(&["*"]).as_ref(), &category, UPDATABLE).unwrap(),
            UPDATABLE
        );
    }

    #[test]
    fn read_only_fields_are_ignored_and_unknown_ones_refused() {
        let category = Category::default();
        assert_eq!(
            update_paths(mask(&["etag", "id", "name"]).as_ref(), &category, UPDATABLE).unwrap(),
            ["name"]
        );
        let error = update_paths(mask(&["colour"]).as_ref(), &category, UPDATABLE).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"colour\" is not a field of Category")
        );
    }

    #[test]
    fn a_oneof_is_named_by_itself_or_by_its_member() {
        use lms_proto::assessment_v1::{Assessment, FixedQuestions, assessment::Questions};
        let assessment = Assessment {
            questions: Some(Questions::Fixed(FixedQuestions::default())),
            ..Default::default()
        };
        let updatable = &["title", "questions"];
        for given in [None, mask(&["questions"]), mask(&["fixed"])] {
            assert_eq!(
                update_paths(given.as_ref(), &assessment, updatable).unwrap(),
                ["questions"],
                "{given:?}"
            );
        }
    }
}
