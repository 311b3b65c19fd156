//! The route table: every `google.api.http` binding of the exposed services, read from the
//! descriptor set, with its path template parsed, and the matching of a request against it.

use http::Method;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};

/// One path segment of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Literal(String),
    /// `{a.b}`: one segment bound to a (possibly nested) field, by proto field names.
    Field(Vec<String>),
}

/// A parsed `google.api.http` path template: `/v1/pathways/{id}:publish`.
#[derive(Debug, Clone)]
pub struct Template {
    pub segments: Vec<Segment>,
    pub verb: Option<String>,
    /// The template as written, for OpenAPI and logs.
    pub text: String,
}

/// Where the request body goes.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// No body.
    None,
    /// `body: "*"`: every field not bound by the path.
    All,
    /// `body: "field"`: the body is that (message) field.
    Field(FieldDescriptor),
}

#[derive(Debug, Clone)]
pub struct Route {
    pub http_method: Method,
    pub template: Template,
    pub method: MethodDescriptor,
    pub body: BodyRule,
    /// Reachable without a token (public certificate verification).
    pub public: bool,
}

impl Route {
    /// The gRPC path: `/lms.pathway.v1.PathwayService/GetPathway`.
    pub fn grpc_path(&self) -> String {
        format!(
            "/{}/{}",
            self.method.parent_service().full_name(),
            self.method.name()
        )
    }

    pub fn service(&self) -> &str {
        self.method.parent_service().full_name()
    }

    pub fn server_streaming(&self) -> bool {
        self.method.is_server_streaming()
    }
}

pub fn parse_template(text: &str) -> anyhow::Result<Template> {
    let Some(rest) = text.strip_prefix('/') else {
        anyhow::bail!("template {text:?} does not start with /");
    };
    // A verb follows the last segment, outside any braces.
    let (path, verb) = match rest.rfind(':') {
        Some(at) if !rest[at..].contains('}') && !rest[at..].contains('/') => {
            (&rest[..at], Some(rest[at + 1..].to_string()))
        }
        _ => (rest, None),
    };
    let mut segments = Vec::new();
    for part in path.split('/') {
        if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if inner.contains('=') {
                anyhow::bail!("template {text:?}: only single-segment variables are supported");
            }
            segments.push(Segment::Field(
                inner.split('.').map(str::to_string).collect(),
            ));
        } else if part.is_empty() || part.contains(['{', '}', '*']) {
            anyhow::bail!("template {text:?}: unsupported segment {part:?}");
        } else {
            segments.push(Segment::Literal(part.to_string()));
        }
    }
    Ok(Template {
        segments,
        verb,
        text: text.to_string(),
    })
}

impl Template {
    /// The bound fields' values when `path` matches (percent-decoded), else None.
    pub fn matches(&self, path: &str) -> Option<Vec<(Vec<String>, String)>> {
        let rest = path.strip_prefix('/')?;
        let rest = match &self.verb {
            Some(verb) => rest.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => rest,
        };
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut bound = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
                Segment::Field(path) => {
                    let value = percent_decode(part)?;
                    if value.is_empty() || (self.verb.is_none() && value.contains(':')) {
                        return None;
                    }
                    bound.push((path.clone(), value));
                }
            }
        }
        Some(bound)
    }

    /// How specific the template is: a verb and literal segments beat variables.
    fn specificity(&self) -> (bool, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (self.verb.is_some(), literals)
    }

    /// The field paths bound by the template.
    pub fn fields(&self) -> impl Iterator<Item = &Vec<String>> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field(path) => Some(path),
            Segment::Literal(_) => None,
        })
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Every binding of the named services' methods, most specific first.
pub fn routes(pool: &DescriptorPool, services: &[&str]) -> anyhow::Result<Vec<Route>> {
    let http = pool
        .get_extension_by_name("google.api.http")
        .ok_or_else(|| anyhow::anyhow!("the descriptor set lacks google.api.http"))?;
    let mut routes = Vec::new();
    for name in services {
        let service = pool
            .get_service_by_name(name)
            .ok_or_else(|| anyhow::anyhow!("service {name} is not in the descriptor set"))?;
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                continue;
            }
            let rule = options.get_extension(&http);
            let Some(rule) = rule.as_message() else {
                continue;
            };
            let mut rules = vec![rule.clone()];
            if let Some(more) = rule.get_field_by_name("additional_bindings")
                && let Some(list) = more.as_list()
            {
                rules.extend(list.iter().filter_map(|v| v.as_message().cloned()));
            }
            for rule in rules {
                routes.push(route(&method, &rule, service.full_name())?);
            }
        }
    }
    routes.sort_by_key(|r| std::cmp::Reverse(r.template.specificity()));
    Ok(routes)
}

fn route(
    method: &MethodDescriptor,
    rule: &prost_reflect::DynamicMessage,
    service: &str,
) -> anyhow::Result<Route> {
    let text = |name: &str| {
        rule.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let (http_method, template) = [
        (Method::GET, "get"),
        (Method::POST, "post"),
        (Method::PATCH, "patch"),
        (Method::PUT, "put"),
        (Method::DELETE, "delete"),
    ]
    .into_iter()
    .find_map(|(verb, name)| {
        let path = text(name);
        (!path.is_empty()).then_some((verb, path))
    })
    .ok_or_else(|| anyhow::anyhow!("{}: a binding without a path", method.full_name()))?;
    let template = parse_template(&template)?;
    let input = method.input();
    for path in template.fields() {
        field_at(&input, path).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: {} binds an unknown field",
                method.full_name(),
                template.text
            )
        })?;
    }
    let body = match text("body").as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::All,
        field => BodyRule::Field(input.get_field_by_name(field).ok_or_else(|| {
            anyhow::anyhow!("{}: body field {field} is unknown", method.full_name())
        })?),
    };
    Ok(Route {
        http_method,
        template,
        method: method.clone(),
        body,
        public: PUBLIC_SERVICES.contains(&service),
    })
}

/// Services called without a token: a certificate's code and a calendar feed's secret are
/// their own credentials (the edge admits their paths: `edge::is_public`).
pub const PUBLIC_SERVICES: [&str; 2] = [
    "lms.records.v1.CertificateVerification",
    "lms.records.v1.CalendarFeedService",
];

/// The field at a dotted path of proto names, descending through message fields.
pub fn field_at(message: &MessageDescriptor, path: &[String]) -> Option<FieldDescriptor> {
    let (last, parents) = path.split_last()?;
    let mut current = message.clone();
    for name in parents {
        match current.get_field_by_name(name)?.kind() {
            Kind::Message(inner) => current = inner,
            _ => return None,
        }
    }
    current.get_field_by_name(last)
}

/// What a request path and method find in the table.
pub enum Found<'a> {
    Route(&'a Route, Vec<(Vec<String>, String)>),
    /// The path exists with other methods.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

pub fn find<'a>(routes: &'a [Route], method: &Method, path: &str) -> Found<'a> {
    let mut allowed = Vec::new();
    for route in routes {
        if let Some(bound) = route.template.matches(path) {
            if route.http_method == *method {
                return Found::Route(route, bound);
            }
            if !allowed.contains(&route.http_method) {
                allowed.push(route.http_method.clone());
            }
        }
    }
    if allowed.is_empty() {
        Found::NotFound
    } else {
        Found::MethodNotAllowed(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_match_with_verbs_and_nested_fields() {
        let t = parse_template("/v1/progress/{enrolment_id}:recordActivity").unwrap();
        assert_eq!(t.verb.as_deref(), Some("recordActivity"));
        assert_eq!(
            t.matches("/v1/progress/abc:recordActivity"),
            Some(vec![(vec!["enrolment_id".to_string()], "abc".to_string())])
        );
        assert_eq!(t.matches("/v1/progress/abc"), None);
        let plain = parse_template("/v1/progress/{enrolment_id}").unwrap();
        assert_eq!(plain.matches("/v1/progress/abc:recordActivity"), None);
        let nested = parse_template("/v1/manualRecords/{record.id}").unwrap();
        assert_eq!(
            nested.matches("/v1/manualRecords/a%20b"),
            Some(vec![(
                vec!["record".to_string(), "id".to_string()],
                "a b".to_string()
            )])
        );
        let collection = parse_template("/v1/progress:moveToVersion").unwrap();
        assert!(collection.matches("/v1/progress:moveToVersion").is_some());
        assert!(parse_template("/v1/{name=pathways/*}").is_err());
        assert!(parse_template("v1/x").is_err());
    }

    #[test]
    fn every_service_binding_is_read_from_the_descriptors() {
        let pool = DescriptorPool::decode(lms_proto::FILE_DESCRIPTOR_SET).unwrap();
        let routes = routes(&pool, crate::EXPOSED_SERVICES).unwrap();
        assert!(routes.len() > 90, "{}", routes.len());
        let Found::Route(route, bound) = find(&routes, &Method::POST, "/v1/pathways/p1:publish")
        else {
            panic!("publish not found");
        };
        assert_eq!(route.method.name(), "PublishPathway");
        assert_eq!(bound[0].1, "p1");
        assert!(matches!(
            find(&routes, &Method::PUT, "/v1/pathways/p1"),
            Found::MethodNotAllowed(_)
        ));
        assert!(matches!(
            find(&routes, &Method::GET, "/v1/nothing"),
            Found::NotFound
        ));
    }
}
