//! The gateway's REST/JSON → gRPC transcoding (`gateway::transcode::request_message`): any
//! request line and body become a request message or an error, never a panic; a message that
//! results encodes, decodes and renders back to JSON without panicking.
//!
//! Input: a request line `METHOD /path?query`, a line break, then the body. When the line
//! names a route of the table (as the gateway's router would find it), that route and its
//! bound path values are used; otherwise the first byte picks a route and the path's last
//! segments, taken raw, are its bound values — so every route is reached, with any values.
#![no_main]

use std::sync::LazyLock;

use bytes::Bytes;
use gateway::routes::{self, Found, Route};
use gateway::transcode;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};

static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(lms_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let table = routes::routes(&pool, gateway::EXPOSED_SERVICES).expect("route table");
    assert!(!table.is_empty());
    table
});

fuzz_target!(|data: &[u8]| {
    let routes = &*ROUTES;
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[data.len()..]),
    };
    let body = Bytes::copy_from_slice(body);
    let head = String::from_utf8_lossy(head);
    let head: &str = &head;
    let (method, target) = head.split_once(' ').unwrap_or(("GET", head));
    let method = http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET);

    // As the gateway sees it: a path and query that http accepted.
    if let Ok(uri) = http::uri::PathAndQuery::try_from(target)
        && let Found::Route(route, bound) = routes::find(routes, &method, uri.path())
    {
        transcode_one(route, bound, uri.query(), &body);
        return;
    }

    // Anything else: a route by the first byte, raw values from the path, the raw query.
    let route = &routes[usize::from(data.first().copied().unwrap_or(0)) % routes.len()];
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let fields: Vec<&Vec<String>> = route.template.fields().collect();
    let mut parts: Vec<&str> = path.rsplit('/').take(fields.len()).collect();
    parts.reverse();
    parts.resize(fields.len(), "");
    let bound = fields
        .into_iter()
        .cloned()
        .zip(parts.into_iter().map(str::to_string))
        .collect();
    transcode_one(route, bound, query, &body);
});

fn transcode_one(
    route: &Route,
    bound: Vec<(Vec<String>, String)>,
    query: Option<&str>,
    body: &Bytes,
) {
    let Ok(message) = transcode::request_message(route, bound, query, body) else {
        return;
    };
    let _ = transcode::to_json(&message);
    // What goes to the service, and what a service would send back of the same type.
    let wire = message.encode_to_vec();
    if let Ok(decoded) = DynamicMessage::decode(route.method.input(), wire.as_slice()) {
        let _ = transcode::to_json(&decoded);
    }
}
