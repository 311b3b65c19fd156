//! REST/JSON ↔ gRPC: the request message from path, query and body (proto3 JSON mapping,
//! unknown fields refused), the call to the service with a dynamic codec, and the response
//! as JSON (unary) or newline-delimited JSON (server streaming).

use std::str::FromStr;
use std::time::Instant;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions,
};
use serde_json::{Map, Value};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

use crate::error::ApiError;
use crate::preconditions::{self, Conditions};
use crate::responses;
use crate::routes::{BodyRule, Route, field_at};
use crate::upstream::Upstream;

/// Headers passed on to the services as gRPC metadata.
pub const FORWARDED: [&str; 3] = ["authorization", "x-request-id", "tracestate"];

/// The request message for `route` from the bound path values, the query string and the body.
pub fn request_message(
    route: &Route,
    bound: Vec<(Vec<String>, String)>,
    query: Option<&str>,
    body: &Bytes,
) -> Result<DynamicMessage, ApiError> {
    let input = route.method.input();
    let mut root = match &route.body {
        BodyRule::None => {
            if !body.is_empty() {
                return Err(ApiError::new(
                    Code::InvalidArgument,
                    "this route takes no request body",
                ));
            }
            Map::new()
        }
        BodyRule::All => parse_object(body)?,
        BodyRule::Field(field) => {
            // The body is the resource itself: without one there is nothing to create or
            // change (the OpenAPI document marks it required).
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::invalid(
                    field.name(),
                    "is required: send it as the JSON body",
                ));
            }
            let mut root = Map::new();
            root.insert(
                field.json_name().to_string(),
                Value::Object(parse_object(body)?),
            );
            root
        }
    };
    crate::update_mask::infer(route, &mut root, query);
    for (path, value) in bound {
        let field = field_at(&input, &path)
            .ok_or_else(|| ApiError::invalid(path.join("."), "is not a field"))?;
        let value = scalar(&field, &value, &path.join("."))?;
        set_at(&mut root, &input, &path, value);
    }
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        if matches!(route.body, BodyRule::All) {
            return Err(ApiError::new(
                Code::InvalidArgument,
                "this route takes its fields in the body, not the query string",
            ));
        }
        apply_query(&mut root, &input, query)?;
    }
    decode(input, Value::Object(root))
}

/// The request message from its JSON form; a value of the wrong type is refused naming its
/// field (`pathway.estimated_duration_minutes`), as the proto's field names spell it.
fn decode(input: MessageDescriptor, json: Value) -> Result<DynamicMessage, ApiError> {
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(json, &mut track);
    DynamicMessage::deserialize_with_options(
        input.clone(),
        deserializer,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|error| {
        let path = track.path().to_string();
        let field = proto_path(&input, &path);
        if field.is_empty() || field == "." {
            ApiError::new(Code::InvalidArgument, format!("invalid request: {error}"))
        } else {
            ApiError::invalid(field, error.to_string())
        }
    })
}

/// A JSON path (`pathway.estimatedDurationMinutes`, `steps[2].title`) with each field in its
/// proto spelling.
fn proto_path(input: &MessageDescriptor, json_path: &str) -> String {
    let mut message = Some(input.clone());
    let mut out = Vec::new();
    for part in json_path.split('.').filter(|p| !p.is_empty()) {
        let (name, index) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        let field = message.as_ref().and_then(|m| {
            m.fields()
                .find(|f| f.json_name() == name || f.name() == name)
        });
        match field {
            Some(field) => {
                out.push(format!("{}{index}", field.name()));
                message = match field.kind() {
                    Kind::Message(inner) => Some(inner),
                    _ => None,
                };
            }
            None => {
                out.push(part.to_string());
                message = None;
            }
        }
    }
    out.join(".")
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(
            Code::InvalidArgument,
            "the request body must be a JSON object",
        )),
        Err(error) => Err(ApiError::new(
            Code::InvalidArgument,
            format!("malformed JSON: {error}"),
        )),
    }
}

/// A text from a path or query as the JSON value proto3 JSON expects for the field; a text
/// that cannot be one is refused naming the field.
fn scalar(field: &FieldDescriptor, text: &str, name: &str) -> Result<Value, ApiError> {
    match field.kind() {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 if text.parse::<i32>().is_err() => Err(
            ApiError::invalid(name, format!("must be a 32-bit integer, not {text:?}")),
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 if text.parse::<i64>().is_err() => Err(
            ApiError::invalid(name, format!("must be a 64-bit integer, not {text:?}")),
        ),
        Kind::Uint32 | Kind::Fixed32 if text.parse::<u32>().is_err() => Err(ApiError::invalid(
            name,
            format!("must be a non-negative 32-bit integer, not {text:?}"),
        )),
        Kind::Uint64 | Kind::Fixed64 if text.parse::<u64>().is_err() => Err(ApiError::invalid(
            name,
            format!("must be a non-negative 64-bit integer, not {text:?}"),
        )),
        Kind::Float | Kind::Double if text.parse::<f64>().is_err() => Err(ApiError::invalid(
            name,
            format!("must be a number, not {text:?}"),
        )),
        Kind::Enum(values)
            if values.get_value_by_name(text).is_none() && text.parse::<i32>().is_err() =>
        {
            let names: Vec<String> = values
                .values()
                .map(|v| v.name().to_string())
                .filter(|v| !v.ends_with("_UNSPECIFIED"))
                .collect();
            Err(ApiError::invalid(
                name,
                format!("must be one of {}, not {text:?}", names.join(", ")),
            ))
        }
        Kind::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(ApiError::invalid(name, "must be true or false")),
        },
        Kind::Message(message) if !is_string_wkt(&message) => Err(ApiError::invalid(
            name,
            "a message field cannot be given in the path or query string",
        )),
        // Numbers, enums (by name), timestamps, durations and field masks are all accepted
        // as strings by the proto3 JSON mapping.
        _ => Ok(Value::String(text.to_string())),
    }
}

/// Well-known types whose JSON form is a string.
pub fn is_string_wkt(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.StringValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.BytesValue"
    )
}

fn set_at(
    root: &mut Map<String, Value>,
    message: &MessageDescriptor,
    path: &[String],
    value: Value,
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(field) = message.get_field_by_name(first) else {
        return;
    };
    // The body may have used the proto name: one key, the JSON name, holds what it gave.
    if field.name() != field.json_name()
        && let Some(given) = root.remove(field.name())
    {
        root.entry(field.json_name().to_string()).or_insert(given);
    }
    if rest.is_empty() {
        // The path's value wins.
        root.insert(field.json_name().to_string(), value);
        return;
    }
    let Kind::Message(inner) = field.kind() else {
        return;
    };
    let entry = root
        .entry(field.json_name().to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(map) = entry {
        set_at(map, &inner, rest, value);
    }
}

fn apply_query(
    root: &mut Map<String, Value>,
    input: &MessageDescriptor,
    query: &str,
) -> Result<(), ApiError> {
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        // An empty value is a blank filter (`?status=`): not given, as a form means it.
        if value.is_empty() {
            continue;
        }
        let mut message = input.clone();
        let mut path = Vec::new();
        let mut field = None;
        for part in key.split('.') {
            let found = message
                .fields()
                .find(|f| f.name() == part || f.json_name() == part)
                .ok_or_else(|| ApiError::invalid(key.to_string(), "unknown query parameter"))?;
            path.push(found.name().to_string());
            if let Kind::Message(inner) = found.kind() {
                message = inner;
            }
            field = Some(found);
        }
        let Some(field) = field else {
            continue;
        };
        let item = match field.kind() {
            Kind::Message(m) if m.full_name() == "google.protobuf.FieldMask" => {
                Value::String(crate::update_mask::camel_case_paths(&value))
            }
            _ => scalar(&field, &value, &path.join("."))?,
        };
        if field.is_list() {
            let existing = get_at(root, input, &path).cloned();
            let mut list = match existing {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            };
            list.push(item);
            set_at(root, input, &path, Value::Array(list));
        } else if field.is_map() {
            return Err(ApiError::invalid(
                key.to_string(),
                "a map cannot be given in the query string",
            ));
        } else {
            set_at(root, input, &path, item);
        }
    }
    Ok(())
}

fn get_at<'a>(
    root: &'a Map<String, Value>,
    message: &MessageDescriptor,
    path: &[String],
) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let field = message.get_field_by_name(first)?;
    let value = root.get(field.json_name())?;
    if rest.is_empty() {
        return Some(value);
    }
    let Kind::Message(inner) = field.kind() else {
        return None;
    };
    get_at(value.as_object()?, &inner, rest)
}

/// Proto3 JSON of a message: lowerCamelCase names, enums by name, 64-bit integers as strings,
/// every field present.
pub fn to_json(message: &DynamicMessage) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut out);
    message
        .serialize_with_options(
            &mut serializer,
            &SerializeOptions::new().skip_default_fields(false),
        )
        .map_err(|error| {
            ApiError::new(Code::Internal, format!("unrenderable response: {error}"))
        })?;
    Ok(out)
}

/// Calls the service and renders its answer.
/// (Boxed: the future is proven `Send` here, where its types are concrete.)
pub fn call(
    upstream: Upstream,
    route: Route,
    message: DynamicMessage,
    headers: HeaderMap,
    deadline: Option<Instant>,
    conditions: Conditions,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>> {
    Box::pin(call_inner(
        upstream, route, message, headers, deadline, conditions,
    ))
}

async fn call_inner(
    upstream: Upstream,
    route: Route,
    message: DynamicMessage,
    headers: HeaderMap,
    deadline: Option<Instant>,
    conditions: Conditions,
) -> Response {
    let mut request = tonic::Request::new(message);
    for name in FORWARDED {
        if let Some(value) = headers.get(name)
            && let Ok(value) = tonic::metadata::MetadataValue::try_from(value.as_bytes())
        {
            request.metadata_mut().insert(name, value);
        }
    }
    let traceparent = lms_platform::telemetry::current_traceparent();
    let traceparent = if traceparent.is_empty() {
        headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    } else {
        traceparent
    };
    if let Ok(value) = traceparent.parse() {
        request.metadata_mut().insert("traceparent", value);
    }
    if let Some(deadline) = deadline {
        request.set_timeout(deadline.saturating_duration_since(Instant::now()));
    }
    let path = match http::uri::PathAndQuery::from_str(&route.grpc_path()) {
        Ok(path) => path,
        Err(_) => return ApiError::new(Code::Internal, "bad route").into_response(),
    };
    let codec = DynamicCodec {
        output: route.method.output(),
    };
    match upstream {
        Upstream::Channel(channel) => {
            invoke(
                tonic::client::Grpc::new(channel),
                &route,
                request,
                path,
                codec,
                &conditions,
            )
            .await
        }
        Upstream::InProcess(server) => {
            invoke(
                tonic::client::Grpc::new(server),
                &route,
                request,
                path,
                codec,
                &conditions,
            )
            .await
        }
    }
}

async fn invoke<T>(
    mut grpc: tonic::client::Grpc<T>,
    route: &Route,
    request: tonic::Request<DynamicMessage>,
    path: http::uri::PathAndQuery,
    codec: DynamicCodec,
    conditions: &Conditions,
) -> Response
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    if let Err(error) = grpc.ready().await {
        let error: tonic::codegen::StdError = error.into();
        tracing::warn!(%error, service = route.service(), "service not ready");
        return ApiError::new(Code::Unavailable, "the service cannot be reached; retry")
            .into_response();
    }
    if route.server_streaming() {
        match grpc.server_streaming(request, path, codec).await {
            Ok(response) => match responses::download_of(route) {
                Some(kind) => responses::download(route, kind, response.into_inner()),
                None => responses::ndjson(response.into_inner()),
            },
            Err(status) => upstream_error(&status).into_response(),
        }
    } else {
        match grpc.unary(request, path, codec).await {
            Ok(response) => match to_json(response.get_ref()) {
                Ok(json) => responses::unary(conditions, response.get_ref(), json),
                Err(error) => error.into_response(),
            },
            Err(status) => {
                preconditions::on_error(conditions, upstream_error(&status)).into_response()
            }
        }
    }
}

fn upstream_error(status: &Status) -> ApiError {
    if status.code() == Code::Unknown || status.code() == Code::Internal {
        tracing::warn!(code = ?status.code(), message = status.message(), "service error");
    }
    ApiError::from_status(status)
}

/// Encodes any message; decodes the method's output type.
#[derive(Clone)]
pub struct DynamicCodec {
    pub output: MessageDescriptor,
}

pub struct DynamicEncoder;
pub struct DynamicDecoder(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder(self.output.clone())
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        prost::Message::encode(&item, dst).map_err(|error| Status::internal(error.to_string()))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|error| Status::internal(error.to_string()))
    }
}

#[cfg(test)]
#[path = "transcode_tests.rs"]
mod tests;
