//! The statement rules, case by case (the HTTP conformance tests in the gateway's suite go
//! through the whole store; these pin the field each violation names).

use serde_json::{Value, json};

use super::*;

fn minimal() -> Value {
    json!({
        "actor": {"mbox": "mailto:xapi@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
        "object": {"id": "http://example.com/activities/intro"}
    })
}

fn with(path: &[&str], value: Value) -> Value {
    let mut statement = minimal();
    let mut at = &mut statement;
    for key in &path[..path.len() - 1] {
        at = at
            .as_object_mut()
            .unwrap()
            .entry(key.to_string())
            .or_insert_with(|| json!({}));
    }
    at[path[path.len() - 1]] = value;
    statement
}

fn fields(statement: &Value) -> Vec<String> {
    match check_request(statement, None, Version::V2) {
        Ok(_) => Vec::new(),
        Err(violations) => violations.into_iter().map(|v| v.field).collect(),
    }
}

#[test]
fn a_minimal_statement_and_a_rich_one_are_accepted() {
    assert!(fields(&minimal()).is_empty());
    let rich = json!({
        "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
        "actor": {"objectType": "Group", "name": "Team", "member": [{"account": {"homePage": "http://example.com", "name": "13936749"}}]},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
        "object": {"id": "http://example.com/q1", "definition": {
            "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
            "interactionType": "choice",
            "correctResponsesPattern": ["golf[,]tetris"],
            "choices": [{"id": "golf", "description": {"en-US": "Golf"}}, {"id": "tetris"}]
        }},
        "result": {"score": {"scaled": 0.95, "raw": 95, "min": 0, "max": 100}, "success": true,
                   "completion": true, "duration": "PT1H0M0S", "response": "golf[,]tetris",
                   "extensions": {"http://example.com/ext": null}},
        "context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
                    "instructor": {"mbox_sha1sum": "ebd31e95054c018b10727ccffd2ef2ec3a016ee9"},
                    "team": {"objectType": "Group", "openid": "http://example.com/team"},
                    "contextActivities": {"parent": {"id": "http://example.com/course"}, "category": [{"id": "http://example.com/cat"}]},
                    "revision": "2", "platform": "Example", "language": "en-US",
                    "statement": {"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"},
                    "contextAgents": [{"objectType": "contextAgent", "agent": {"mbox": "mailto:peer@example.com"}, "relevantTypes": ["http://example.com/peer"]}]},
        "timestamp": "2013-05-18T05:32:34.804+01:00",
        "version": "1.0.3",
        "attachments": [{"usageType": "http://adlnet.gov/expapi/attachments/signature",
                         "display": {"en-US": "signature"}, "contentType": "application/octet-stream",
                         "length": 4235, "sha2": "672fa5fa658017f1b72d65036f13379c6ab05d4ab3b6664908d8acf0b6a0c634"}]
    });
    assert_eq!(fields(&rich), Vec::<String>::new());
}

#[test]
fn each_broken_property_is_named() {
    let cases = [
        (with(&["id"], json!("not-a-uuid")), "statement.id"),
        (
            with(&["actor"], json!({"name": "nobody"})),
            "statement.actor",
        ),
        (
            with(&["actor"], json!({"mbox": "xapi@example.com"})),
            "statement.actor.mbox",
        ),
        (
            with(
                &["actor"],
                json!({"mbox": "mailto:a@example.com", "openid": "http://a.example"}),
            ),
            "statement.actor",
        ),
        (
            with(&["actor"], json!({"objectType": "Group"})),
            "statement.actor.member",
        ),
        (
            with(
                &["actor"],
                json!({"objectType": "Group", "member": [{"objectType": "Group", "mbox": "mailto:g@example.com"}]}),
            ),
            "statement.actor.member[0]",
        ),
        (
            with(&["actor", "mbox_sha1sum"], json!("xyz")),
            "statement.actor",
        ),
        (
            with(&["verb", "id"], json!("completed")),
            "statement.verb.id",
        ),
        (
            with(&["verb", "display"], json!({"not a tag": "x"})),
            "statement.verb.display.not a tag",
        ),
        (
            with(&["object", "id"], json!("not an iri")),
            "statement.object.id",
        ),
        (
            with(&["object", "objectType"], json!("Activityy")),
            "statement.object.objectType",
        ),
        (
            with(&["object", "definition", "choices"], json!([{"id": "a"}])),
            "statement.object.definition.choices",
        ),
        (
            with(&["object", "definition", "interactionType"], json!("essay")),
            "statement.object.definition.interactionType",
        ),
        (
            with(&["result", "score", "scaled"], json!(1.5)),
            "statement.result.score.scaled",
        ),
        (
            with(&["result", "duration"], json!("1 hour")),
            "statement.result.duration",
        ),
        (
            with(&["result", "success"], json!("yes")),
            "statement.result.success",
        ),
        (
            with(&["context", "registration"], json!("abc")),
            "statement.context.registration",
        ),
        (
            with(
                &["context", "team"],
                json!({"mbox": "mailto:t@example.com"}),
            ),
            "statement.context.team.objectType",
        ),
        (
            with(&["timestamp"], json!("2013-05-18T05:32:34-00:00")),
            "statement.timestamp",
        ),
        (with(&["version"], json!("0.95")), "statement.version"),
        (with(&["extra"], json!(1)), "statement.extra"),
        (
            with(&["Actor"], json!({"mbox": "mailto:a@example.com"})),
            "statement.Actor",
        ),
        (with(&["result"], json!(null)), "statement.result"),
        (
            with(
                &["attachments"],
                json!([{"usageType": "http://e.com/u", "display": {"en": "x"}, "contentType": "text/plain", "length": 1}]),
            ),
            "statement.attachments[0].sha2",
        ),
    ];
    for (statement, field) in cases {
        let found = fields(&statement);
        assert!(
            found.iter().any(|f| f == field),
            "{field}: {found:?} for {statement}"
        );
    }
}

#[test]
fn object_rules_that_depend_on_the_statement() {
    let voiding_an_activity = with(&["verb", "id"], json!(VOIDED));
    assert_eq!(fields(&voiding_an_activity), ["statement.object"]);
    let revision_on_an_agent = json!({
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://example.com/met"},
        "object": {"objectType": "Agent", "mbox": "mailto:b@example.com"},
        "context": {"revision": "1"}
    });
    assert_eq!(
        fields(&revision_on_an_agent),
        ["statement.context.revision"]
    );
    let nested = json!({
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://example.com/planned"},
        "object": {"objectType": "SubStatement", "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
                   "actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": "http://example.com/do"},
                   "object": {"objectType": "SubStatement"}}
    });
    let found = fields(&nested);
    assert!(
        found.contains(&"statement.object.id".to_string()),
        "{found:?}"
    );
    assert!(
        found.contains(&"statement.object.object".to_string()),
        "{found:?}"
    );
}

#[test]
fn a_batch_is_refused_whole_and_ids_are_distinct() {
    let id = "fd41c918-b88b-4b20-a0a5-a4c32391aaa0";
    let twice = json!([
        with(&["id"], json!(id)),
        with(&["id"], json!(id.to_uppercase()))
    ]);
    assert_eq!(fields(&twice), ["statements[1].id"]);
    let one_bad = json!([minimal(), with(&["verb"], json!({}))]);
    assert_eq!(fields(&one_bad), ["statements[1].verb.id"]);
    assert_eq!(fields(&json!([])), ["statements"]);
}

#[test]
fn put_ids_must_agree() {
    let id = "fd41c918-b88b-4b20-a0a5-a4c32391aaa0";
    let other = with(&["id"], json!("6690e6c9-3ef0-4ed3-8b37-7f3964730bee"));
    assert!(check_request(&other, Some(id), Version::V2).is_err());
    let without = check_request(&minimal(), Some(id), Version::V2).unwrap();
    assert_eq!(without[0].checked.id.as_deref(), Some(id));
}

#[test]
fn filter_keys_direct_and_related() {
    let statement = json!({
        "actor": {"objectType": "Group", "mbox": "mailto:team@example.com", "member": [{"mbox": "mailto:a@example.com"}]},
        "verb": {"id": "http://example.com/did"},
        "object": {"id": "http://example.com/a"},
        "context": {"instructor": {"mbox": "mailto:t@example.com"}, "contextActivities": {"parent": [{"id": "http://example.com/p"}]}}
    });
    let keys = check_request(&statement, None, Version::V2)
        .unwrap()
        .remove(0)
        .checked
        .keys;
    assert_eq!(keys.verb, "http://example.com/did");
    assert!(
        keys.agents
            .contains(&("Group|mbox|mailto:team@example.com".into(), false))
    );
    assert!(
        keys.agents
            .contains(&("Agent|mbox|mailto:a@example.com".into(), false))
    );
    assert!(
        keys.agents
            .contains(&("Agent|mbox|mailto:t@example.com".into(), true))
    );
    assert!(
        keys.activities
            .contains(&("http://example.com/a".into(), false))
    );
    assert!(
        keys.activities
            .contains(&("http://example.com/p".into(), true))
    );
}

#[test]
fn fingerprints_ignore_what_the_store_sets() {
    let sent = minimal().as_object().unwrap().clone();
    let mut stored = sent.clone();
    complete(
        &mut stored,
        "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
        Utc::now(),
        &account_agent("https://lms.example", "me"),
        "1.0.3",
    );
    stored.remove("timestamp");
    assert_eq!(fingerprint(&sent), fingerprint(&stored));
    let mut changed = sent.clone();
    changed.insert("result".into(), json!({"success": true}));
    assert_ne!(fingerprint(&sent), fingerprint(&changed));
}

#[test]
fn a_1_0_3_request_is_read_by_1_0_3_rules() {
    let two_point_oh = with(&["version"], json!("2.0.0"));
    assert!(check_request(&two_point_oh, None, Version::V2).is_ok());
    let refused = check_request(&two_point_oh, None, Version::V1).unwrap_err();
    assert_eq!(refused[0].field, "statement.version");
    let context_agents = with(
        &["context", "contextAgents"],
        json!([{"objectType": "contextAgent", "agent": {"mbox": "mailto:p@example.com"}}]),
    );
    assert!(check_request(&context_agents, None, Version::V2).is_ok());
    let refused = check_request(&context_agents, None, Version::V1).unwrap_err();
    assert_eq!(refused[0].field, "statement.context.contextAgents");
    assert_eq!(Version::parse("1.0"), Some(Version::V1));
    assert_eq!(Version::parse("1.0.9"), Some(Version::V1));
    assert_eq!(Version::parse("2.0.0"), Some(Version::V2));
    for bad in ["0.95", "1.1.0", "3.0.0", "abc", "", "1.0.", "1.0.3.1"] {
        assert_eq!(Version::parse(bad), None, "{bad}");
    }
}

#[test]
fn stored_form_is_utc_and_context_activities_are_arrays() {
    let statement = json!({
        "actor": {"mbox": "mailto:xapi@example.com"},
        "verb": {"id": "http://example.com/did"},
        "object": {"id": "http://example.com/a"},
        "context": {"contextActivities": {"parent": {"id": "http://example.com/p"}}},
        "timestamp": "2013-05-18T06:32:34.804+01:00"
    });
    let incoming = check_request(&statement, None, Version::V1)
        .unwrap()
        .remove(0);
    assert_eq!(
        incoming.document["timestamp"],
        json!("2013-05-18T05:32:34.804Z")
    );
    assert_eq!(
        incoming.document["context"]["contextActivities"]["parent"],
        json!([{"id": "http://example.com/p"}])
    );
    let mut stored = incoming.document.clone();
    complete(
        &mut stored,
        "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
        Utc::now(),
        &account_agent("urn:lms:tenant:t", "me"),
        Version::V1.statement_default(),
    );
    assert_eq!(stored["version"], json!("1.0.0"));
    assert_eq!(stored["timestamp"], json!("2013-05-18T05:32:34.804Z"));
}

#[test]
fn an_authority_group_has_two_members() {
    let three = with(
        &["authority"],
        json!({"objectType": "Group", "member": [
        {"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}, {"mbox": "mailto:c@example.com"}]}),
    );
    assert_eq!(fields(&three), ["statement.authority"]);
}
