//! The OpenAPI 3 document, generated from the same descriptors and route table the
//! transcoder uses: paths, parameters, request bodies, response and error schemas, security.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::routes::{BodyRule, Route, Segment};
use crate::transcode::is_string_wkt;

pub fn document(routes: &[Route]) -> Value {
    let mut schemas: BTreeMap<String, Value> = BTreeMap::new();
    let mut pending: Vec<MessageDescriptor> = Vec::new();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for route in routes {
        let input = route.method.input();
        let bound: BTreeSet<String> = route
            .template
            .fields()
            .map(|path| path.first().cloned().unwrap_or_default())
            .collect();
        let mut parameters = Vec::new();
        let mut path_text = String::new();
        for segment in &route.template.segments {
            path_text.push('/');
            match segment {
                Segment::Literal(literal) => path_text.push_str(literal),
                Segment::Field(path) => {
                    // `{record.id}` is named `record_id` here: tools read dotted parameter
                    // names as nested objects. Matching is by position, so the name is free.
                    let name = path.join("_");
                    path_text.push_str(&format!("{{{name}}}"));
                    let field = crate::routes::field_at(&input, path);
                    let schema = match &field {
                        Some(field) => {
                            let mut schema = scalar_schema(field);
                            crate::openapi_text::describe_field(field, &mut schema);
                            schema
                        }
                        None => json!({"type": "string"}),
                    };
                    parameters.push(json!({
                        "name": name,
                        "in": "path",
                        "required": true,
                        "schema": schema,
                    }));
                }
            }
        }
        if let Some(verb) = &route.template.verb {
            path_text.push(':');
            path_text.push_str(verb);
        }
        let mut operation = Map::new();
        let service = route.method.parent_service();
        operation.insert(
            "operationId".into(),
            json!(format!("{}_{}", service.name(), route.method.name())),
        );
        operation.insert("tags".into(), json!([service.name()]));
        let (summary, description) = crate::openapi_text::operation(&route.method)
            .unwrap_or_else(|| (route.method.name().to_string(), String::new()));
        operation.insert("summary".into(), json!(summary));
        operation.insert(
            "description".into(),
            json!(format!("{description}\n\ngRPC: `{}`", route.grpc_path()).trim_start()),
        );
        match &route.body {
            BodyRule::None => query_parameters(&input, &bound, &mut parameters),
            BodyRule::All if !bound.is_empty() => {
                // The body is the request less what the path carries.
                let mut schema = message_schema(&input, &mut pending);
                for name in &bound {
                    if let Some(field) = input.get_field_by_name(name) {
                        let json_name = field.json_name();
                        if let Some(Value::Object(properties)) = schema.get_mut("properties") {
                            properties.remove(json_name);
                        }
                        if let Some(Value::Array(required)) = schema.get_mut("required") {
                            required.retain(|r| r != json_name);
                        }
                    }
                }
                // OpenAPI 3.0 wants a `required` list to name something.
                if schema["required"].as_array().is_some_and(Vec::is_empty)
                    && let Some(object) = schema.as_object_mut()
                {
                    object.remove("required");
                }
                operation.insert(
                    "requestBody".into(),
                    json!({"required": false, "content": {"application/json": {"schema": schema}}}),
                );
            }
            BodyRule::All => {
                pending.push(input.clone());
                operation.insert(
                    "requestBody".into(),
                    json!({"required": false, "content": {"application/json": {"schema": reference(&input)}}}),
                );
            }
            BodyRule::Field(field) => {
                // The request's other fields (`update_mask`, `request_id`, `parent_id`, ...)
                // travel in the query string.
                let mut skip = bound.clone();
                skip.insert(field.name().to_string());
                query_parameters(&input, &skip, &mut parameters);
                if let Kind::Message(message) = field.kind() {
                    // An update with a field mask sends only what it changes: no field of
                    // the resource is required in its body.
                    let schema = if input.get_field_by_name("update_mask").is_some() {
                        partial_schema(&message, &mut pending)
                    } else {
                        pending.push(message.clone());
                        reference(&message)
                    };
                    operation.insert(
                        "requestBody".into(),
                        json!({"required": true, "content": {"application/json": {"schema": schema}}}),
                    );
                }
            }
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        let output = route.method.output();
        pending.push(output.clone());
        let download = crate::responses::download_of(route);
        let content_type = if route.server_streaming() {
            "application/x-ndjson"
        } else {
            "application/json"
        };
        let success = match download {
            Some(kind) => {
                let media = kind
                    .content_type
                    .split(';')
                    .next()
                    .unwrap_or(kind.content_type);
                json!({
                    "description": kind.description,
                    "content": {media: {"schema": {"type": "string"}}},
                })
            }
            None => json!({
                "description": if route.server_streaming() {
                    "One message per line (newline-delimited JSON); a failure after the first line ends the stream with a line {\"error\": Error}."
                } else {
                    "OK"
                },
                "content": {content_type: {"schema": reference(&output)}},
            }),
        };
        operation.insert(
            "responses".into(),
            json!({
                "200": success,
                "default": {
                    "description": "An error: the gRPC status mapped to HTTP, with its JSON body.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            }),
        );
        if route.public {
            operation.insert("security".into(), json!([]));
        }
        paths.entry(path_text).or_default().insert(
            route.http_method.as_str().to_lowercase(),
            Value::Object(operation),
        );
    }
    while let Some(message) = pending.pop() {
        if schemas.contains_key(message.full_name()) {
            continue;
        }
        let schema = message_schema(&message, &mut pending);
        schemas.insert(message.full_name().to_string(), schema);
    }
    let mut components = Map::new();
    let mut all: Map<String, Value> = schemas.into_iter().collect();
    all.insert(
        "Error".into(),
        json!({
            "type": "object",
            "description": "A google.rpc.Status, as transcoders render it.",
            "required": ["code", "status", "message", "details"],
            "properties": {
                "code": {"type": "integer", "description": "The google.rpc.Code number, e.g. 3."},
                "status": {"type": "string", "description": "The code's name, e.g. INVALID_ARGUMENT."},
                "message": {"type": "string"},
                "requestId": {"type": "string", "description": "The request's x-request-id."},
                "details": {"type": "array", "items": {
                    "type": "object",
                    "description": "google.rpc.BadRequest (fieldViolations), google.rpc.ErrorInfo (reason, domain), google.rpc.RetryInfo (retryDelay) or google.rpc.RequestInfo (requestId), named by @type.",
                    "required": ["@type"],
                    "properties": {
                        "@type": {"type": "string"},
                        "fieldViolations": {"type": "array", "items": {
                            "type": "object",
                            "properties": {"field": {"type": "string"}, "description": {"type": "string"}},
                        }},
                        "reason": {"type": "string"},
                        "domain": {"type": "string"},
                        "retryDelay": {"type": "string"},
                        "requestId": {"type": "string"},
                    },
                }},
            },
        }),
    );
    components.insert("schemas".into(), Value::Object(all));
    components.insert(
        "securitySchemes".into(),
        json!({"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "LMS suite",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "REST/JSON for the LMS services, transcoded from their gRPC contracts (google.api.http). JSON follows the proto3 mapping: lowerCamelCase names, enums by name, 64-bit integers as strings, timestamps as RFC 3339.",
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": components,
    })
}

/// Every field of `input` but `skip` as a query parameter, where it can be one.
fn query_parameters(
    input: &MessageDescriptor,
    skip: &BTreeSet<String>,
    parameters: &mut Vec<Value>,
) {
    for field in input.fields() {
        if skip.contains(field.name()) {
            continue;
        }
        let Some(mut schema) = query_schema(&field) else {
            continue;
        };
        let required = behaviour(&field).required;
        if required {
            require_content(&mut schema);
            drop_unspecified(&mut schema);
        } else if let Some(object) = schema.as_object_mut() {
            // A blank optional filter (`?toTime=`) is not given: its schema admits the empty
            // value beside the format.
            let blank_or = match object.get("format").and_then(Value::as_str) {
                Some("uuid") => Some(OPTIONAL_UUID),
                Some("date-time") => Some(OPTIONAL_DATE_TIME),
                _ => None,
            };
            if let Some(pattern) = blank_or {
                object.remove("format");
                object.insert("pattern".into(), json!(pattern));
            }
        }
        crate::openapi_text::describe_field(&field, &mut schema);
        let description = schema.get("description").cloned();
        let mut parameter = json!({
            "name": field.json_name(),
            "in": "query",
            "required": required,
            "schema": schema,
        });
        if let Some(description) = description {
            parameter["description"] = description;
        }
        if !required {
            // A blank optional parameter (`?pageSize=`, as an HTML form sends an empty field)
            // is not given, whatever its type: the document says so for numbers, booleans and
            // enums too.
            parameter["allowEmptyValue"] = json!(true);
        }
        parameters.push(parameter);
    }
}

/// A required enum is never its `*_UNSPECIFIED` value (0): the service refuses it, so the
/// document does not offer it.
fn drop_unspecified(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(names)) = object.get_mut("enum") {
        names.retain(|n| !n.as_str().is_some_and(|n| n.ends_with("_UNSPECIFIED")));
    }
    if let Some(Value::Array(alternatives)) = object.get_mut("anyOf") {
        for alternative in alternatives {
            if let Some(Value::Array(values)) = alternative.get_mut("enum") {
                values.retain(|v| {
                    !v.as_str().is_some_and(|n| n.ends_with("_UNSPECIFIED"))
                        && v.as_i64() != Some(0)
                });
            }
        }
    }
}

fn reference(message: &MessageDescriptor) -> Value {
    if let Some(schema) = well_known(message) {
        return schema;
    }
    json!({"$ref": format!("#/components/schemas/{}", message.full_name())})
}

fn well_known(message: &MessageDescriptor) -> Option<Value> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => json!({"type": "string", "example": "1.5s"}),
        "google.protobuf.FieldMask" => json!({"type": "string", "example": "title,description"}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Any" => json!({"type": "object"}),
        "google.protobuf.StringValue" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            json!({"type": "integer"})
        }
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({"type": "string", "format": "int64"})
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => {
            json!({"type": "number"})
        }
        _ => return None,
    })
}

fn message_schema(message: &MessageDescriptor, pending: &mut Vec<MessageDescriptor>) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in message.fields() {
        let mut schema = field_schema(&field, pending);
        crate::openapi_text::describe_field(&field, &mut schema);
        let behaviour = behaviour(&field);
        if behaviour.required {
            required.push(field.json_name().to_string());
            require_content(&mut schema);
            drop_unspecified(&mut schema);
        } else {
            mark_optional(&mut schema);
        }
        if behaviour.output_only
            && let Value::Object(object) = &mut schema
        {
            object.insert("readOnly".into(), json!(true));
        }
        properties.insert(field.json_name().to_string(), schema);
    }
    let mut schema =
        json!({"type": "object", "properties": properties, "additionalProperties": false});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// `message` with every field optional, for the body of a masked update.
fn partial_schema(message: &MessageDescriptor, pending: &mut Vec<MessageDescriptor>) -> Value {
    let mut properties = Map::new();
    for field in message.fields() {
        let mut schema = field_schema(&field, pending);
        crate::openapi_text::describe_field(&field, &mut schema);
        mark_optional(&mut schema);
        if behaviour(&field).output_only
            && let Value::Object(object) = &mut schema
        {
            object.insert("readOnly".into(), json!(true));
        }
        properties.insert(field.json_name().to_string(), schema);
    }
    json!({"type": "object", "properties": properties, "additionalProperties": false})
}

/// What `google.api.field_behavior` says of a field.
#[derive(Default)]
struct Behaviour {
    required: bool,
    output_only: bool,
}

fn behaviour(field: &FieldDescriptor) -> Behaviour {
    const REQUIRED: i32 = 2;
    const OUTPUT_ONLY: i32 = 3;
    let Some(extension) = field
        .parent_pool()
        .get_extension_by_name("google.api.field_behavior")
    else {
        return Behaviour::default();
    };
    let options = field.options();
    if !options.has_extension(&extension) {
        return Behaviour::default();
    }
    let values: Vec<i32> = match options.get_extension(&extension).as_ref() {
        prost_reflect::Value::List(values) => {
            values.iter().filter_map(|v| v.as_enum_number()).collect()
        }
        _ => Vec::new(),
    };
    Behaviour {
        required: values.contains(&REQUIRED),
        output_only: values.contains(&OUTPUT_ONLY),
    }
}

/// A required string may not be empty, nor a required list.
fn require_content(schema: &mut Value) {
    if let Value::Object(object) = schema {
        match object.get("type").and_then(Value::as_str) {
            Some("string") if !object.contains_key("enum") && !object.contains_key("format") => {
                object.insert("minLength".into(), json!(1));
            }
            Some("array") => {
                object.insert("minItems".into(), json!(1));
            }
            _ => {}
        }
    }
}

/// An optional field: `null` reads as its default, and an optional id may be empty (none).
fn mark_optional(schema: &mut Value) {
    if let Value::Object(object) = schema {
        if object.contains_key("$ref") {
            // OpenAPI 3.0 ignores siblings of $ref: wrap it.
            let reference = std::mem::take(object);
            object.insert("allOf".into(), json!([Value::Object(reference)]));
        }
        if object.get("format").and_then(Value::as_str) == Some("uuid") {
            object.remove("format");
            object.insert("pattern".into(), json!(OPTIONAL_UUID));
        }
        if let Some(Value::Array(names)) = object.get_mut("enum") {
            // OpenAPI 3.0.3: a nullable enum lists null among its values.
            names.push(Value::Null);
        }
        object.insert("nullable".into(), json!(true));
    }
}

/// A UUID or nothing.
const OPTIONAL_UUID: &str =
    "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// An RFC 3339 timestamp, or nothing (a blank query filter).
const OPTIONAL_DATE_TIME: &str = "^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$";

/// Ids are UUIDs (`id`, `pathway_id`, `person_ids`, ...); external ids are the customer's own.
fn is_uuid(field: &FieldDescriptor) -> bool {
    // The options and pairs of a question are named by the author ("a", "b", ...).
    if matches!(
        field.parent_message().name(),
        "Choice" | "Pair" | "ServedOption"
    ) {
        return false;
    }
    let name = field.name();
    matches!(field.kind(), Kind::String)
        && !name.ends_with("external_id")
        && (name == "id" || name.ends_with("_id") || (name.ends_with("_ids") && field.is_list()))
}

fn field_schema(field: &FieldDescriptor, pending: &mut Vec<MessageDescriptor>) -> Value {
    if field.is_map() {
        if let Kind::Message(entry) = field.kind()
            && let Some(value) = entry.get_field_by_name("value")
        {
            return json!({"type": "object", "additionalProperties": single_schema(&value, pending)});
        }
        return json!({"type": "object"});
    }
    let single = single_schema(field, pending);
    if field.is_list() {
        json!({"type": "array", "items": single})
    } else {
        single
    }
}

fn single_schema(field: &FieldDescriptor, pending: &mut Vec<MessageDescriptor>) -> Value {
    match field.kind() {
        Kind::Message(message) => {
            if well_known(&message).is_none() {
                pending.push(message.clone());
            }
            reference(&message)
        }
        _ => scalar_schema(field),
    }
}

fn scalar_schema(field: &FieldDescriptor) -> Value {
    match field.kind() {
        Kind::String if is_uuid(field) => json!({"type": "string", "format": "uuid"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Bool => json!({"type": "boolean"}),
        // Pages: 0 asks for the default size; larger than the maximum is capped.
        Kind::Int32 if field.name() == "page_size" => {
            json!({"type": "integer", "format": "int32", "minimum": 0})
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({"type": "string", "format": "int64"})
        }
        Kind::Float | Kind::Double => json!({"type": "number"}),
        // proto3 JSON takes an enum value by name or by number.
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
            let numbers: Vec<i32> = e.values().map(|v| v.number()).collect();
            json!({"anyOf": [
                {"type": "string", "enum": names},
                {"type": "integer", "enum": numbers},
            ]})
        }
        Kind::Message(message) => reference(&message),
    }
}

/// The schema of a query parameter, when the field can be one.
fn query_schema(field: &FieldDescriptor) -> Option<Value> {
    if field.is_map() {
        return None;
    }
    let single = match field.kind() {
        Kind::Message(message) if is_string_wkt(&message) => reference(&message),
        Kind::Message(_) => return None,
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
            json!({"type": "string", "enum": names})
        }
        _ => scalar_schema(field),
    };
    Some(if field.is_list() {
        json!({"type": "array", "items": single})
    } else {
        single
    })
}
