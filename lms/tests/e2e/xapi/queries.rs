//! Voiding and queries: what a query finds, in what order, on which page, in what form.

use serde_json::{Value, json};

use super::{Client, V1, VOIDED, agent, enc, pick, statement, uuid};

/// Voiding (D 2.3.2, C 2.1.4), in either order.
pub(super) async fn voiding(client: &Client<'_>) {
    let registration = uuid();
    let in_run = |mut s: Value| {
        s["context"] = json!({"registration": registration});
        s
    };
    let target = client
        .post(&in_run(statement("vic", "passed", "exam")))
        .await
        .body[0]
        .as_str()
        .unwrap()
        .to_string();
    let void = |id: &str| {
        in_run(
            json!({"actor": agent("admin"), "verb": {"id": VOIDED}, "object": {"objectType": "StatementRef", "id": id}}),
        )
    };
    let voiding = client.post(&void(&target)).await.body[0]
        .as_str()
        .unwrap()
        .to_string();
    // By statementId a voided statement is not found; by voidedStatementId it is (XAPI-00018).
    assert_eq!(
        client.get(&format!("statementId={target}")).await.status,
        404
    );
    let voided = client.get(&format!("voidedStatementId={target}")).await;
    assert_eq!(voided.status, 200);
    assert_eq!(voided.body["id"], json!(target));
    assert_eq!(
        client
            .get(&format!("voidedStatementId={voiding}"))
            .await
            .status,
        404
    );
    // Queries leave it out, but return the voiding statement, which targets it (XAPI-00162,
    // 00163): the agent filter matches through the StatementRef.
    let found = client
        .all(&format!("agent={}", enc(&agent("vic").to_string())))
        .await;
    let ids: Vec<&str> = found.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [voiding.as_str()]);
    // A voiding statement cannot be voided: accepted, without effect (XAPI-00016).
    assert_eq!(client.post(&void(&voiding)).await.status, 200);
    assert_eq!(
        client.get(&format!("statementId={voiding}")).await.status,
        200
    );
    // Voiding what is not stored yet is accepted (C 2.1.4); the statement, when it comes, is
    // voided at once.
    let later = uuid();
    assert_eq!(client.post(&void(&later)).await.status, 200);
    assert_eq!(
        client
            .put(&later, &in_run(statement("vic", "failed", "exam")))
            .await
            .status,
        204
    );
    assert_eq!(
        client.get(&format!("statementId={later}")).await.status,
        404
    );
    assert_eq!(
        client
            .get(&format!("voidedStatementId={later}"))
            .await
            .status,
        200
    );
}

/// A statement query read with `Accept-Language: de, en;q=0.5`.
async fn in_german(client: &Client<'_>, query: &str) -> Value {
    client
        .lms
        .http
        .get(format!("{}/xapi/statements?{query}", client.lms.gateway))
        .bearer_auth(client.token.as_deref().unwrap())
        .header("X-Experience-API-Version", V1)
        .header("Accept-Language", "de, en;q=0.5")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
}

pub(super) async fn querying(client: &Client<'_>) {
    let registration = uuid();
    let in_run = |mut s: Value| {
        s["context"]["registration"] = json!(registration);
        s
    };
    // Four statements, stored one after another.
    let mut group_actor = statement("unused", "attended", "workshop");
    group_actor["actor"] =
        json!({"objectType": "Group", "name": "Team", "member": [agent("quinn"), agent("rae")]});
    let mut parented = statement("sam", "did", "task");
    parented["context"] = json!({"contextActivities": {"parent": {"id": "http://example.com/activities/course"}},
                                 "instructor": agent("tutor")});
    let bodies = [
        statement("quinn", "completed", "course"),
        group_actor,
        parented,
        statement("quinn", "did", "course"),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        let answer = client.post(&in_run(body)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        ids.push(answer.body[0].as_str().unwrap().to_string());
    }
    let run = format!("registration={registration}");
    let ids_of = |found: Vec<Value>| -> Vec<String> {
        found
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    // Newest stored first; ascending=true the other way (XAPI-00166).
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(ids_of(client.all(&run).await), newest_first);
    assert_eq!(
        ids_of(client.all(&format!("{run}&ascending=true")).await),
        ids
    );
    // limit and more: every statement once (XAPI-00108..00114, 00173).
    assert_eq!(
        ids_of(client.all(&format!("{run}&limit=1")).await),
        newest_first
    );
    let first_page = client.get(&format!("{run}&limit=3")).await;
    assert_eq!(first_page.body["statements"].as_array().unwrap().len(), 3);
    // agent: actor or object, a group's members too (XAPI-00181).
    let quinn = enc(&agent("quinn").to_string());
    assert_eq!(
        ids_of(client.all(&format!("{run}&agent={quinn}")).await),
        pick(&ids, &[3, 1, 0])
    );
    // related_agents reaches the instructor (XAPI-00176).
    let tutor = enc(&agent("tutor").to_string());
    assert!(client.all(&format!("{run}&agent={tutor}")).await.is_empty());
    assert_eq!(
        ids_of(
            client
                .all(&format!("{run}&agent={tutor}&related_agents=true"))
                .await
        ),
        pick(&ids, &[2])
    );
    // related_agents reaches the authority too (C 2.1.3: "Actor, Object, Authority,
    // Instructor, Team"), which the agent filter alone does not.
    let authority = client.get(&format!("statementId={}", ids[0])).await.body["authority"].clone();
    let authority = enc(&authority.to_string());
    assert!(
        client
            .all(&format!("{run}&agent={authority}"))
            .await
            .is_empty()
    );
    assert_eq!(
        ids_of(
            client
                .all(&format!("{run}&agent={authority}&related_agents=true"))
                .await
        ),
        newest_first
    );
    // verb (XAPI-00180); activity, and related_activities reaching context (00177, 00179).
    let did = enc("http://example.com/verbs/did");
    assert_eq!(
        ids_of(client.all(&format!("{run}&verb={did}")).await),
        pick(&ids, &[3, 2])
    );
    let course = enc("http://example.com/activities/course");
    assert_eq!(
        ids_of(client.all(&format!("{run}&activity={course}")).await),
        pick(&ids, &[3, 0])
    );
    assert_eq!(
        ids_of(
            client
                .all(&format!("{run}&activity={course}&related_activities=true"))
                .await
        ),
        pick(&ids, &[3, 2, 0])
    );
    assert_eq!(
        ids_of(client.all(&format!("{run}&agent={quinn}&verb={did}")).await),
        pick(&ids, &[3])
    );
    // since (exclusive) and until (inclusive), by stored (XAPI-00174, 00175).
    let all = client.all(&format!("{run}&ascending=true")).await;
    let second_stored = enc(all[1]["stored"].as_str().unwrap());
    assert_eq!(
        ids_of(
            client
                .all(&format!("{run}&until={second_stored}&ascending=true"))
                .await
        ),
        pick(&ids, &[0, 1])
    );
    assert_eq!(
        ids_of(
            client
                .all(&format!("{run}&since={second_stored}&ascending=true"))
                .await
        ),
        pick(&ids, &[2, 3])
    );
    // StatementRefs: a statement targeting a match matches, recursively (C 2.1.3).
    let refers = |id: &str| {
        in_run(
            json!({"actor": agent("auditor"), "verb": {"id": "http://example.com/verbs/confirmed"}, "object": {"objectType": "StatementRef", "id": id}}),
        )
    };
    let confirms = client.post(&refers(&ids[0])).await.body[0]
        .as_str()
        .unwrap()
        .to_string();
    let confirms_that = client.post(&refers(&confirms)).await.body[0]
        .as_str()
        .unwrap()
        .to_string();
    let completed = enc("http://example.com/verbs/completed");
    assert_eq!(
        ids_of(client.all(&format!("{run}&verb={completed}")).await),
        vec![confirms_that.clone(), confirms.clone(), ids[0].clone()]
    );
    // A target stored after the statement targeting it passes its keys back along the chain.
    let early_target = uuid();
    let early = client.post(&refers(&early_target)).await.body[0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        client
            .put(&early_target, &in_run(statement("late", "arrived", "x")))
            .await
            .status,
        204
    );
    let arrived = enc("http://example.com/verbs/arrived");
    assert_eq!(
        ids_of(client.all(&format!("{run}&verb={arrived}")).await),
        vec![early_target.clone(), early.clone()]
    );
    // Agent and verb together: each filter met by the statement or by its target (C 2.1.3
    // applies the rule filter by filter), so the auditor's confirmation of quinn's completion
    // matches quinn with either verb — also when the target came later.
    let confirmed = enc("http://example.com/verbs/confirmed");
    assert_eq!(
        ids_of(client.all(&format!("{run}&agent={quinn}&verb={did}")).await),
        pick(&ids, &[3])
    );
    assert_eq!(
        ids_of(
            client
                .all(&format!("{run}&agent={quinn}&verb={completed}"))
                .await
        ),
        vec![confirms_that.clone(), confirms.clone(), ids[0].clone()]
    );
    assert_eq!(
        ids_of(
            client
                .all(&format!("{run}&agent={quinn}&verb={confirmed}"))
                .await
        ),
        vec![confirms_that.clone(), confirms.clone()]
    );
    let late = enc(&agent("late").to_string());
    assert_eq!(
        ids_of(
            client
                .all(&format!("{run}&agent={late}&verb={confirmed}"))
                .await
        ),
        vec![early.clone()]
    );
    let auditor = enc(&agent("auditor").to_string());
    assert_eq!(
        ids_of(
            client
                .all(&format!("{run}&agent={auditor}&verb={arrived}"))
                .await
        ),
        vec![early.clone()]
    );
    // format=ids (XAPI-00171) and canonical by Accept-Language (XAPI-00169).
    let ids_form = client
        .get(&format!("statementId={}&format=ids", ids[0]))
        .await
        .body;
    assert_eq!(
        ids_form["verb"],
        json!({"id": "http://example.com/verbs/completed"})
    );
    assert_eq!(
        ids_form["object"],
        json!({"objectType": "Activity", "id": "http://example.com/activities/course"})
    );
    let canonical = in_german(client, &format!("statementId={}&format=canonical", ids[0])).await;
    assert_eq!(canonical["verb"]["display"], json!({"de": "de-completed"}));
    assert_eq!(
        canonical["object"]["definition"]["name"],
        json!({"en-US": "course"})
    );
    // canonical shows the store's definition, gathered from every statement naming the
    // activity: a German name given later reaches the earlier statement (C 2.1.3 `format`).
    let mut german = statement("quinn", "renamed", "course");
    german["object"]["definition"] = json!({"name": {"de": "Kurs"}});
    assert_eq!(client.post(&german).await.status, 200);
    let query = format!("{run}&agent={quinn}&verb={completed}&format=canonical");
    let canonical = in_german(client, &query).await;
    let first = canonical["statements"].as_array().unwrap().last().unwrap();
    assert_eq!(first["id"], json!(ids[0]));
    assert_eq!(first["object"]["definition"]["name"], json!({"de": "Kurs"}));
    // The verb's display likewise: a German text given later (by another learner's statement)
    // is the one the earlier statement shows in canonical form.
    let mut renamed_verb = statement("ruth", "completed", "course");
    renamed_verb["verb"]["display"] = json!({"de": "abgeschlossen"});
    assert_eq!(client.post(&renamed_verb).await.status, 200);
    let canonical = in_german(client, &format!("statementId={}&format=canonical", ids[0])).await;
    assert_eq!(canonical["verb"]["display"], json!({"de": "abgeschlossen"}));
    let exact = client.get(&format!("statementId={}", ids[0])).await.body;
    assert_eq!(
        exact["object"]["definition"]["name"]["en-US"], "course",
        "exact: as stored"
    );
    assert_eq!(exact["verb"]["display"]["de"], "de-completed");
    // Parameters: unknown, repeated, badly typed, or combined with statementId: 400
    // (XAPI-00150, 00151, 00324).
    for bad in [
        format!("{run}&Registration={registration}"),
        format!("{run}&{run}"),
        format!("{run}&ascending=yes"),
        format!("{run}&limit=-1"),
        format!("{run}&format=full"),
        format!("{run}&since=yesterday"),
        format!("statementId={}&limit=1", ids[0]),
        format!("statementId={}&voidedStatementId={}", ids[0], ids[1]),
        "agent=%7Bnot%20json".to_string(),
        format!(
            "agent={}",
            enc(&json!({"objectType": "Group", "member": [agent("a")]}).to_string())
        ),
        "registration=42".to_string(),
        format!("{run}&verb="),
        "more=forged".to_string(),
    ] {
        let answer = client.get(&bad).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }
    assert_eq!(
        client.get(&format!("statementId={}", uuid())).await.status,
        404
    );
}
