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
                    parameters.push(json!({
                        "name": name,
                        "in": "path",
                        "required": true,
                        "schema": field.map(|f| scalar_schema(&f)).unwrap_or(json!({"type": "string"})),
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
        operation.insert(
            "summary".into(),
            json!(format!("{} ({})", route.method.name(), route.grpc_path())),
        );
        match &route.body {
            BodyRule::None => {
                for field in input.fields() {
                    if bound.contains(field.name()) {
                        continue;
                    }
                    if let Some(schema) = query_schema(&field) {
                        parameters.push(json!({
                            "name": field.json_name(),
                            "in": "query",
                            "required": false,
                            "schema": schema,
                        }));
                    }
                }
            }
            BodyRule::All => {
                pending.push(input.clone());
                operation.insert(
                    "requestBody".into(),
                    json!({"required": false, "content": {"application/json": {"schema": reference(&input)}}}),
                );
            }
            BodyRule::Field(field) => {
                if let Kind::Message(message) = field.kind() {
                    pending.push(message.clone());
                    operation.insert(
                        "requestBody".into(),
                        json!({"required": true, "content": {"application/json": {"schema": reference(&message)}}}),
                    );
                }
            }
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        let output = route.method.output();
        pending.push(output.clone());
        let content_type = if route.server_streaming() {
            "application/x-ndjson"
        } else {
            "application/json"
        };
        operation.insert(
            "responses".into(),
            json!({
                "200": {
                    "description": if route.server_streaming() {
                        "One message per line (newline-delimited JSON); a failure after the first line ends the stream with a line {\"error\": Error}."
                    } else {
                        "OK"
                    },
                    "content": {content_type: {"schema": reference(&output)}},
                },
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
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "The gRPC status code's name, e.g. INVALID_ARGUMENT."},
                "message": {"type": "string"},
                "fieldViolations": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "description": {"type": "string"}},
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
    for field in message.fields() {
        properties.insert(field.json_name().to_string(), field_schema(&field, pending));
    }
    json!({"type": "object", "properties": properties, "additionalProperties": false})
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
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Bool => json!({"type": "boolean"}),
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
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
            json!({"type": "string", "enum": names})
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
        _ => scalar_schema(field),
    };
    Some(if field.is_list() {
        json!({"type": "array", "items": single})
    } else {
        single
    })
}
