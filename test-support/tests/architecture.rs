//! The layer rules of DESIGN §3, read from the sources, so they outlive the change that made
//! them true:
//!
//! - every service has the same rooms: `grpc/` (handlers and wire conversion), `app/` (use
//!   cases), `domain/` (rules), `storage/` (diesel), `events` (outbox payloads) and `clients`
//!   (the services it calls), and nothing else beside `lib.rs`;
//! - arrows point one way: grpc → app → domain, app → storage, app → events, app → clients,
//!   grpc → events (delivered events are read there, and an enrolment's wire form lives
//!   there); domain sees no protobuf and no SQL, use cases no protobuf, handlers no storage;
//! - no source file is longer than 600 lines (files split by aggregate);
//! - the Learning Portal (`web/`) depends on no service, contract or gateway crate.

use std::path::{Path, PathBuf};

const SERVICES: [&str; 5] = [
    "pathway-service",
    "enrolment-service",
    "assessment-service",
    "records-service",
    "notification-service",
];

/// The rooms of a service and what each may not use: other rooms of the crate, and crates.
const ROOMS: [(&str, &[&str], &[&str]); 6] = [
    (
        "domain",
        &["app", "grpc", "storage", "events", "clients"],
        &["lms_proto", "tonic", "prost", "diesel"],
    ),
    (
        "storage",
        &["app", "grpc", "events", "clients"],
        &["lms_proto", "tonic", "prost"],
    ),
    ("app", &["grpc"], &["lms_proto", "tonic", "prost"]),
    (
        "events",
        &["app", "grpc", "storage", "clients"],
        &["tonic", "diesel"],
    ),
    (
        "clients",
        &["app", "grpc", "storage", "events"],
        &["diesel"],
    ),
    ("grpc", &["storage", "clients"], &["diesel"]),
];

const LONGEST_FILE: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module path of a file under `src` (`app/people.rs` → `["app", "people"]`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The crate-level rooms a file refers to: `crate::x::…` and `super::…::x` resolved.
fn rooms_referred(module: &[String], code: &str) -> Vec<String> {
    let mut rooms = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let name: String = code[at + 7..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        rooms.push(name);
    }
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("super::") {
            continue;
        }
        let mut rest = &code[at..];
        let mut up = 0;
        while let Some(stripped) = rest.strip_prefix("super::") {
            up += 1;
            rest = stripped;
        }
        if up >= module.len() {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            rooms.push(name);
        }
    }
    rooms
}

/// The code of a file without its comments and its unit tests (they may reach anywhere).
fn code_of(text: &str) -> String {
    let without_tests = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    without_tests
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn uses_crate(code: &str, name: &str) -> bool {
    code.match_indices(&format!("{name}::")).any(|(at, _)| {
        let before = code[..at].chars().last();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

#[test]
fn every_service_has_the_same_rooms_and_nothing_else() {
    let mut problems = Vec::new();
    for service in SERVICES {
        let src = workspace().join(service).join("src");
        for entry in std::fs::read_dir(&src).unwrap().flatten() {
            let name = entry
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            let allowed = name == "lib" || ROOMS.iter().any(|(room, _, _)| *room == name);
            if !allowed {
                problems.push(format!("{service}/src/{}: not one of the rooms", name));
            }
        }
        for required in ["app", "domain", "grpc", "storage"] {
            if !src.join(required).is_dir() {
                problems.push(format!("{service}/src/{required}/ is missing"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn arrows_point_one_way() {
    let mut problems = Vec::new();
    for service in SERVICES {
        let src = workspace().join(service).join("src");
        for file in rust_files(&src) {
            let module = module_path(&src, &file);
            let Some(room) = module.first() else {
                continue;
            };
            let Some((_, rooms, crates)) = ROOMS.iter().find(|(name, _, _)| name == room) else {
                continue;
            };
            let code = code_of(&std::fs::read_to_string(&file).unwrap());
            let shown = file
                .strip_prefix(workspace())
                .unwrap_or(&file)
                .display()
                .to_string();
            for referred in rooms_referred(&module, &code) {
                if rooms.contains(&referred.as_str()) {
                    problems.push(format!("{shown}: {room} uses {referred}"));
                }
            }
            for external in *crates {
                if uses_crate(&code, external) {
                    problems.push(format!("{shown}: {room} uses {external}"));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "layer rules broken:\n{}",
        problems.join("\n")
    );
}

/// The Learning Portal is a frontend like any other: it reaches the suite through the
/// gateway's public HTTP API only, so it depends on no service, no contract code and not on the
/// gateway's internals.
#[test]
fn the_portal_depends_on_no_service_and_no_contract() {
    let manifest = std::fs::read_to_string(workspace().join("web/Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    let dependencies = manifest["dependencies"].as_table().unwrap();
    let forbidden: Vec<&str> = SERVICES
        .iter()
        .copied()
        .chain(["gateway", "lms-proto", "lms-topology"])
        .filter(|name| dependencies.contains_key(*name))
        .collect();
    assert!(forbidden.is_empty(), "web/ depends on {forbidden:?}");
}

#[test]
fn no_source_file_is_longer_than_600_lines() {
    let mut long = Vec::new();
    for entry in std::fs::read_dir(workspace()).unwrap().flatten() {
        let src = entry.path().join("src");
        if !entry.path().join("Cargo.toml").exists() || !src.is_dir() {
            continue;
        }
        for file in rust_files(&src) {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            if lines > LONGEST_FILE {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these by aggregate:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_rules_catch_what_they_should() {
    let module = vec!["domain".to_string(), "person".to_string()];
    let code = "use crate::storage::people;\nuse super::super::grpc::convert;\n";
    assert_eq!(rooms_referred(&module, code), ["storage", "grpc"]);
    assert!(uses_crate(
        "let x = lms_proto::enrolment_v1::Person::default();",
        "lms_proto"
    ));
    assert!(!uses_crate("use my_lms_proto::X;", "lms_proto"));
    assert_eq!(
        code_of("// crate::grpc\nfn f() {}\n#[cfg(test)]\nmod tests { use crate::grpc; }"),
        "fn f() {}"
    );
}
