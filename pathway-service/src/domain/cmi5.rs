//! cmi5 assignable units (AUs) as content steps, and reading them from a cmi5 course
//! structure (`cmi5.xml`, cmi5 sections 13 and 14): the rules of what an AU must declare.

use std::collections::HashSet;

use lms_platform::text_enum;
use lms_platform::validate::Violations;
use serde::{Deserialize, Serialize};

use super::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS};

/// The course structure's XML namespace (cmi5 section 13.2).
pub const NAMESPACE: &str = "https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd";
/// The launch parameters the LMS adds; an AU's own query must not use them (cmi5 8.1).
pub const LAUNCH_PARAMETERS: [&str; 5] =
    ["endpoint", "fetch", "actor", "registration", "activityId"];
pub const MAX_LAUNCH_PARAMETERS_CHARS: usize = 10_000;
pub const MAX_ENTITLEMENT_KEY_CHARS: usize = 1000;
/// The most AUs one import adds (a pathway holds at most `step::MAX_STEPS` steps anyway).
pub const MAX_IMPORTED_UNITS: usize = super::step::MAX_STEPS;

text_enum!(MoveOn {
    Passed = "Passed",
    Completed = "Completed",
    CompletedAndPassed = "CompletedAndPassed",
    CompletedOrPassed = "CompletedOrPassed",
    NotApplicable = "NotApplicable",
});

text_enum!(LaunchMethod {
    AnyWindow = "AnyWindow",
    OwnWindow = "OwnWindow",
});

/// What a content step that is a cmi5 AU says of it (its launch URL is the step's `url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cmi5Unit {
    /// The AU's id in its course structure (the publisher's id).
    pub activity_id: String,
    /// The course's id, or empty.
    pub course_id: String,
    pub move_on: MoveOn,
    /// 0..1, at most 4 decimals.
    pub mastery_score: Option<f64>,
    pub launch_method: LaunchMethod,
    pub launch_parameters: String,
    pub entitlement_key: String,
    /// The blocks the AU is in, outermost first (publisher ids).
    #[serde(default)]
    pub block_ids: Vec<String>,
}

/// The deepest nesting of blocks a step's AU may name.
pub const MAX_BLOCK_DEPTH: usize = 10;

// Mastery scores are finite (checked), so equality is an equivalence.
impl Eq for Cmi5Unit {}

/// True for an absolute IRI: a scheme, then something, and no white space (cmi5 3.0: "IRIs
/// MUST be fully qualified").
pub fn is_absolute_iri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !text.contains(char::is_whitespace)
}

/// Field checks on an AU, reported under `field` (`step.content.cmi5`), and on its launch URL
/// (`url_field`): its query must leave cmi5's launch parameters to the LMS.
pub fn validate_unit(v: &mut Violations, field: &str, unit: &Cmi5Unit, url: &str, url_field: &str) {
    if unit.activity_id.is_empty() {
        v.add(format!("{field}.activity_id"), "must not be empty");
    } else if unit.activity_id.chars().count() > MAX_URL_CHARS
        || !is_absolute_iri(&unit.activity_id)
    {
        v.add(
            format!("{field}.activity_id"),
            format!("must be an absolute IRI of at most {MAX_URL_CHARS} characters"),
        );
    }
    if !unit.course_id.is_empty()
        && (unit.course_id.chars().count() > MAX_URL_CHARS || !is_absolute_iri(&unit.course_id))
    {
        v.add(
            format!("{field}.course_id"),
            format!("must be an absolute IRI of at most {MAX_URL_CHARS} characters"),
        );
    }
    if let Some(score) = unit.mastery_score
        && (!(0.0..=1.0).contains(&score) || (score * 10_000.0).fract().abs() > 1e-6)
    {
        v.add(
            format!("{field}.mastery_score"),
            "must be between 0 and 1, with at most 4 decimals",
        );
    }
    v.max_text(
        &format!("{field}.launch_parameters"),
        &unit.launch_parameters,
        MAX_LAUNCH_PARAMETERS_CHARS,
    );
    v.max_text(
        &format!("{field}.entitlement_key"),
        &unit.entitlement_key,
        MAX_ENTITLEMENT_KEY_CHARS,
    );
    if unit.block_ids.len() > MAX_BLOCK_DEPTH {
        v.add(
            format!("{field}.block_ids"),
            format!("at most {MAX_BLOCK_DEPTH} blocks"),
        );
    }
    for (i, block) in unit.block_ids.iter().enumerate() {
        if block.chars().count() > MAX_URL_CHARS || !is_absolute_iri(block) {
            v.add(
                format!("{field}.block_ids[{i}]"),
                format!("must be an absolute IRI of at most {MAX_URL_CHARS} characters"),
            );
        }
    }
    if let Ok(parsed) = url::Url::parse(url) {
        let taken: Vec<String> = parsed
            .query_pairs()
            .map(|(name, _)| name.into_owned())
            .filter(|name| LAUNCH_PARAMETERS.contains(&name.as_str()))
            .collect();
        if !taken.is_empty() {
            v.add(
                url_field,
                format!(
                    "must not set cmi5's launch parameters in its query ({})",
                    taken.join(", ")
                ),
            );
        }
    }
}

/// An AU read from a course structure, to become a content step.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedUnit {
    pub title: String,
    pub description: String,
    /// Absolute (resolved against the import's base URL).
    pub url: String,
    pub unit: Cmi5Unit,
}

/// The AUs of a course structure, in document order (blocks flattened), or every violation
/// found, each named by the element's path (`course_structure.au[2].url`).
pub fn read_course_structure(
    xml: &str,
    base_url: Option<&url::Url>,
    language: &str,
) -> Result<Vec<ImportedUnit>, Violations> {
    let mut v = Violations::new();
    let field = "course_structure";
    let document = match roxmltree::Document::parse(xml) {
        Ok(document) => document,
        Err(error) => {
            v.add(field, format!("is not well-formed XML: {error}"));
            return Err(v);
        }
    };
    let root = document.root_element();
    if root.tag_name().name() != "courseStructure" || root.tag_name().namespace() != Some(NAMESPACE)
    {
        v.add(
            field,
            format!("must have a courseStructure root element in the namespace {NAMESPACE}"),
        );
        return Err(v);
    }
    let mut reader = Reader {
        v,
        base_url,
        language,
        ids: HashSet::new(),
        units: Vec::new(),
        course_id: String::new(),
        blocks: Vec::new(),
    };
    let mut children = cmi5_children(root);
    match children.next() {
        Some(course) if course.tag_name().name() == "course" => {
            reader.course_id = reader.iri(course, &format!("{field}.course"));
            reader.langstring(course, "title", &format!("{field}.course"));
        }
        _ => reader.v.add(
            format!("{field}.course"),
            "the first element must be course",
        ),
    }
    reader.members(root, field);
    if reader.units.is_empty() && reader.v.is_empty() {
        reader.v.add(field, "must hold at least one au");
    }
    if reader.units.len() > MAX_IMPORTED_UNITS {
        reader.v.add(
            field,
            format!("holds more than {MAX_IMPORTED_UNITS} AUs, more than a pathway's steps"),
        );
    }
    if reader.v.is_empty() {
        Ok(reader.units)
    } else {
        Err(reader.v)
    }
}

/// The element children in cmi5's namespace (vendor extensions may be ignored: 13.1.5).
fn cmi5_children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children()
        .filter(|child| child.is_element() && child.tag_name().namespace() == Some(NAMESPACE))
}

/// An element's text with leading and trailing white space removed (cmi5 14.0).
fn text(node: roxmltree::Node) -> String {
    node.text().unwrap_or_default().trim().to_string()
}

struct Reader<'b> {
    v: Violations,
    base_url: Option<&'b url::Url>,
    language: &'b str,
    /// Every id of course, blocks, AUs and objectives: they must be unique.
    ids: HashSet<String>,
    units: Vec<ImportedUnit>,
    course_id: String,
    /// The blocks around the element being read, outermost first.
    blocks: Vec<String>,
}

impl Reader<'_> {
    /// The blocks and AUs under `node`, in order.
    fn members(&mut self, node: roxmltree::Node, path: &str) {
        let (mut aus, mut blocks) = (0, 0);
        for child in cmi5_children(node) {
            match child.tag_name().name() {
                "au" => {
                    self.au(child, &format!("{path}.au[{aus}]"));
                    aus += 1;
                }
                "block" => {
                    let here = format!("{path}.block[{blocks}]");
                    let id = self.iri(child, &here);
                    self.langstring(child, "title", &here);
                    if self.blocks.len() == MAX_BLOCK_DEPTH {
                        self.v.add(
                            &here,
                            format!("blocks nest at most {MAX_BLOCK_DEPTH} deep here"),
                        );
                    }
                    self.blocks.push(id);
                    self.members(child, &here);
                    self.blocks.pop();
                    blocks += 1;
                }
                "objectives" if path == "course_structure" => {
                    for (i, objective) in cmi5_children(child).enumerate() {
                        self.iri(objective, &format!("{path}.objectives.objective[{i}]"));
                    }
                }
                _ => {}
            }
        }
        if path != "course_structure" && aus + blocks == 0 {
            self.v
                .add(path, "a block must hold at least one au or block");
        }
    }

    /// The `id` attribute: an absolute IRI, unique in the structure.
    fn iri(&mut self, node: roxmltree::Node, path: &str) -> String {
        let id = node.attribute("id").unwrap_or_default().trim().to_string();
        if id.is_empty() {
            self.v.add(format!("{path}.id"), "is required");
        } else if !is_absolute_iri(&id) || id.chars().count() > MAX_URL_CHARS {
            self.v.add(
                format!("{path}.id"),
                format!("must be an absolute IRI of at most {MAX_URL_CHARS} characters"),
            );
        } else if !self.ids.insert(id.clone()) {
            self.v
                .add(format!("{path}.id"), format!("{id} is used twice"));
        }
        id
    }

    /// The text of `element`'s langstring in the import's language, else its first one.
    fn langstring(&mut self, node: roxmltree::Node, element: &str, path: &str) -> String {
        let Some(holder) = cmi5_children(node).find(|c| c.tag_name().name() == element) else {
            self.v.add(format!("{path}.{element}"), "is required");
            return String::new();
        };
        let strings: Vec<_> = cmi5_children(holder)
            .filter(|c| c.tag_name().name() == "langstring")
            .collect();
        let chosen = strings
            .iter()
            .find(|s| {
                s.attribute("lang")
                    .is_some_and(|lang| lang.eq_ignore_ascii_case(self.language))
            })
            .or(strings.first());
        match chosen {
            Some(node) => text(*node),
            None => {
                self.v
                    .add(format!("{path}.{element}"), "must hold a langstring");
                String::new()
            }
        }
    }

    fn au(&mut self, node: roxmltree::Node, path: &str) {
        let activity_id = self.iri(node, path);
        let title = self.langstring(node, "title", path);
        let description = self.langstring(node, "description", path);
        let child = |name: &str| cmi5_children(node).find(|c| c.tag_name().name() == name);
        let move_on = match node.attribute("moveOn").map(str::trim) {
            None => MoveOn::NotApplicable,
            Some(text) => MoveOn::parse(text).unwrap_or_else(|| {
                self.v.add(
                    format!("{path}.moveOn"),
                    "must be Passed, Completed, CompletedAndPassed, CompletedOrPassed or NotApplicable",
                );
                MoveOn::NotApplicable
            }),
        };
        let launch_method = match node.attribute("launchMethod").map(str::trim) {
            None => LaunchMethod::AnyWindow,
            Some(text) => LaunchMethod::parse(text).unwrap_or_else(|| {
                self.v.add(
                    format!("{path}.launchMethod"),
                    "must be AnyWindow or OwnWindow",
                );
                LaunchMethod::AnyWindow
            }),
        };
        let mastery_score = node.attribute("masteryScore").and_then(|text| {
            let parsed = text.trim().parse::<f64>().ok().filter(|s| s.is_finite());
            if parsed.is_none() {
                self.v
                    .add(format!("{path}.masteryScore"), "must be a decimal");
            }
            parsed
        });
        let url = match child("url").map(text) {
            Some(url) if !url.is_empty() => self.resolve(&url, &format!("{path}.url")),
            _ => {
                self.v.add(format!("{path}.url"), "is required");
                String::new()
            }
        };
        let unit = Cmi5Unit {
            activity_id,
            course_id: self.course_id.clone(),
            block_ids: self.blocks.clone(),
            move_on,
            mastery_score,
            launch_method,
            launch_parameters: child("launchParameters").map(text).unwrap_or_default(),
            entitlement_key: child("entitlementKey").map(text).unwrap_or_default(),
        };
        validate_unit(&mut self.v, path, &unit, &url, &format!("{path}.url"));
        self.units.push(ImportedUnit {
            title: title.chars().take(MAX_NAME_CHARS).collect(),
            description: description.chars().take(MAX_DESCRIPTION_CHARS).collect(),
            url,
            unit,
        });
    }

    /// An AU's URL made absolute: as given when it is, else against the base URL (a course
    /// structure without its package must name every URL fully: cmi5 14.0).
    fn resolve(&mut self, given: &str, path: &str) -> String {
        let resolved = match url::Url::parse(given) {
            Ok(absolute) => Some(absolute),
            Err(url::ParseError::RelativeUrlWithoutBase) => match self.base_url {
                Some(base) => base.join(given).ok(),
                None => {
                    self.v.add(
                        path,
                        "is relative: give base_url, where the course package is served",
                    );
                    return String::new();
                }
            },
            Err(_) => None,
        };
        match resolved {
            Some(url) if matches!(url.scheme(), "http" | "https") => {
                let url = url.to_string();
                if url.chars().count() > MAX_URL_CHARS {
                    self.v
                        .add(path, format!("must be at most {MAX_URL_CHARS} characters"));
                }
                url
            }
            _ => {
                self.v.add(path, "must be an http:// or https:// URL");
                String::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structure(units: &str) -> String {
        format!(
            r#"<courseStructure xmlns="{NAMESPACE}" xmlns:v="https://vendor.example.com/x">
  <course id="https://example.com/course"><title><langstring lang="en">C</langstring></title>
    <description><langstring lang="en">D</langstring></description></course>
  <v:extra>vendors may add elements</v:extra>
  {units}
</courseStructure>"#
        )
    }

    fn au(id: &str, attributes: &str, url: &str) -> String {
        format!(
            r#"<au id="{id}" {attributes}><title><langstring lang="fr">Titre</langstring><langstring lang="en"> Title </langstring></title>
  <description><langstring lang="en">About</langstring></description><url>{url}</url></au>"#
        )
    }

    fn fields(result: Result<Vec<ImportedUnit>, Violations>) -> Vec<String> {
        result
            .unwrap_err()
            .into_violations()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn units_in_document_order_with_cmi5s_defaults() {
        let base = url::Url::parse("https://cdn.example.com/pkg/").unwrap();
        let xml = structure(&format!(
            "{}<block id=\"https://example.com/b\"><title><langstring>B</langstring></title><description><langstring>B</langstring></description>{}</block>",
            au("https://example.com/a1", "", "a1/index.html"),
            au(
                "https://example.com/a2",
                "moveOn=\"Passed\" masteryScore=\"0.75\" launchMethod=\"OwnWindow\"",
                "https://other.example.com/a2"
            ),
        ));
        let units = read_course_structure(&xml, Some(&base), "en").unwrap();
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].url, "https://cdn.example.com/pkg/a1/index.html");
        assert_eq!(units[0].title, "Title", "the language asked for, trimmed");
        assert_eq!(units[0].unit.move_on, MoveOn::NotApplicable);
        assert_eq!(units[0].unit.launch_method, LaunchMethod::AnyWindow);
        assert_eq!(units[0].unit.course_id, "https://example.com/course");
        assert_eq!(units[1].unit.move_on, MoveOn::Passed);
        assert_eq!(units[1].unit.mastery_score, Some(0.75));
        assert_eq!(units[1].unit.launch_method, LaunchMethod::OwnWindow);
        let first = read_course_structure(&xml, Some(&base), "de").unwrap();
        assert_eq!(first[0].title, "Titre", "else the first given");
        assert!(units[0].unit.block_ids.is_empty());
        assert_eq!(units[1].unit.block_ids, ["https://example.com/b"]);
    }

    #[test]
    fn an_au_knows_its_blocks_outermost_first() {
        let block = |id: &str, inner: &str| {
            format!("<block id=\"{id}\"><title><langstring>B</langstring></title>{inner}</block>")
        };
        let inner = block(
            "https://example.com/inner",
            &au("https://example.com/deep", "", "https://x.example.com/deep"),
        );
        let outer = block(
            "https://example.com/outer",
            &format!(
                "{}{inner}",
                au("https://example.com/a", "", "https://x.example.com/a")
            ),
        );
        let units = read_course_structure(&structure(&outer), None, "").unwrap();
        assert_eq!(units[0].unit.block_ids, ["https://example.com/outer"]);
        assert_eq!(
            units[1].unit.block_ids,
            ["https://example.com/outer", "https://example.com/inner"]
        );
        let mut nested = au("https://example.com/n", "", "https://x.example.com/n");
        for depth in 0..=MAX_BLOCK_DEPTH {
            nested = block(&format!("https://example.com/b{depth}"), &nested);
        }
        // The eleventh block is refused (and its AU's list of blocks with it).
        let found = fields(read_course_structure(&structure(&nested), None, ""));
        let deepest = format!(
            "course_structure{}",
            ".block[0]".repeat(MAX_BLOCK_DEPTH + 1)
        );
        assert!(found.contains(&deepest), "{found:?}");
        assert!(found.iter().all(|f| f.starts_with(&deepest)), "{found:?}");
    }

    #[test]
    fn broken_structures_name_each_element() {
        let xml = structure(&format!(
            "{}{}{}",
            au(
                "https://example.com/a1",
                "moveOn=\"Sometimes\"",
                "relative.html"
            ),
            au(
                "https://example.com/a1",
                "masteryScore=\"0.12345\"",
                "https://x.example.com/?endpoint=1"
            ),
            au(
                "not an iri",
                "launchMethod=\"Popup\"",
                "ftp://x.example.com/"
            ),
        ));
        let found = fields(read_course_structure(&xml, None, ""));
        for expected in [
            "course_structure.au[0].moveOn",
            "course_structure.au[0].url",
            "course_structure.au[1].id",
            "course_structure.au[1].mastery_score",
            "course_structure.au[1].url",
            "course_structure.au[2].id",
            "course_structure.au[2].launchMethod",
            "course_structure.au[2].url",
        ] {
            assert!(
                found.iter().any(|f| f == expected),
                "{expected} not in {found:?}"
            );
        }
        assert_eq!(
            fields(read_course_structure(&structure(""), None, "")),
            ["course_structure"]
        );
        assert_eq!(
            fields(read_course_structure("<courseStructure/>", None, "")),
            ["course_structure"]
        );
        let no_block_members = structure(
            "<block id=\"https://example.com/b\"><title><langstring>B</langstring></title></block>",
        );
        assert!(
            fields(read_course_structure(&no_block_members, None, ""))
                .iter()
                .any(|f| f == "course_structure.block[0]")
        );
    }

    #[test]
    fn absolute_iris() {
        assert!(is_absolute_iri("https://example.com/a"));
        assert!(is_absolute_iri("urn:x:y"));
        assert!(!is_absolute_iri("/relative"));
        assert!(!is_absolute_iri("1http://x"));
        assert!(!is_absolute_iri("https://example.com/a b"));
    }
}
