//! Reads: GetPathway, CheckAccess, the portal's my learning.

use std::sync::Arc;
use std::time::Duration;

use lms_platform::Role;
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::pathway_v1 as pathway_pb;
use lms_topology::Component;

use super::super::load::{drive, drive_counting};
use super::super::suite::{Organisation, Suite, admin, learner_name, token};
use super::*;

pub(super) async fn get_pathway(
    suite: &Suite,
    org: &Organisation,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let ids = Arc::new(org.pathways.clone());
    let connections = channels(&suite.grpc["pathway-service"]).await?;
    let admin_token = Arc::new(admin());
    let result = {
        let ids = ids.clone();
        drive(clients, duration, move |client, i| {
            let mut pathways = pathway_pb::pathway_service_client::PathwayServiceClient::new(
                connections[client % CONNECTIONS].clone(),
            );
            let id = ids[(client * 7919 + i as usize) % ids.len()].clone();
            let token = admin_token.clone();
            async move {
                pathways
                    .get_pathway(bearer(pathway_pb::GetPathwayRequest { id }, &token))
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string())
            }
        })
        .await
    };
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Pathway).await?;
    let app = Arc::new(pathway_service::app(db, &topology.pathway_peers()?));
    let who = Arc::new(principal("admin@bench", Role::Admin));
    let storage = drive_counting(clients, duration, move |client, i| {
        let app = app.clone();
        let who = who.clone();
        let id = ids[(client * 7919 + i as usize) % ids.len()].clone();
        async move {
            app.get_pathway(&who, id.into())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    Ok(Row::closed_loop(
        "GetPathway",
        "gRPC",
        clients,
        result,
        storage,
        "",
    ))
}

pub(super) async fn check_access(
    suite: &Suite,
    org: &Organisation,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let org = Arc::new(org.clone());
    let connections = channels(&suite.grpc["enrolment-service"]).await?;
    let service_token = Arc::new(token("lms-bench", Role::Service));
    let pick = |org: &Organisation, client: usize, i: u64| {
        let n = (client * 104_729 + i as usize * 31) % org.people;
        let pathway = org.pathways[(n % org.departments) % org.pathways.len()].clone();
        (learner_name(n), pathway)
    };
    let result = {
        let org = org.clone();
        drive(clients, duration, move |client, i| {
            let mut enrolments =
                enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(
                    connections[client % CONNECTIONS].clone(),
                );
            let (learner, pathway_id) = pick(&org, client, i);
            let token = service_token.clone();
            async move {
                let decision = enrolments
                    .check_access(bearer(
                        enrolment_pb::CheckAccessRequest {
                            learner,
                            pathway_id,
                        },
                        &token,
                    ))
                    .await
                    .map_err(|s| s.to_string())?
                    .into_inner();
                if decision.allowed {
                    Ok(())
                } else {
                    Err(format!("refused: {}", decision.message))
                }
            }
        })
        .await
    };
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Enrolment).await?;
    let settings = &topology.settings.enrolment;
    let app = Arc::new(enrolment_service::app(
        db,
        settings,
        &topology.enrolment_peers()?,
    ));
    let who = Arc::new(principal("lms-bench", Role::Service));
    let storage = drive_counting(clients, duration, move |client, i| {
        let app = app.clone();
        let who = who.clone();
        let (learner, pathway) = pick(&org, client, i);
        async move {
            app.check_access(&who, Some(learner), pathway.into())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    Ok(Row::closed_loop(
        "CheckAccess",
        "gRPC",
        clients,
        result,
        storage,
        "",
    ))
}

pub(super) async fn my_learning(
    suite: &Suite,
    org: &Organisation,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let people = org.people;
    let http = reqwest::Client::new();
    let base = Arc::new(suite.gateway.clone());
    let result = drive(clients, duration, move |client, i| {
        let http = http.clone();
        let base = base.clone();
        let learner = learner_name((client * 104_729 + i as usize * 17) % people);
        async move {
            let response = http
                .get(format!("{base}/v1/portal/learning"))
                .bearer_auth(token(&learner, Role::Learner))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if response.status().is_success() {
                response
                    .bytes()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            } else {
                Err(format!("HTTP {}", response.status()))
            }
        }
    })
    .await;
    let app = Arc::new(records_app(suite).await?);
    let storage = drive_counting(clients, duration, move |client, i| {
        let app = app.clone();
        let learner = learner_name((client * 104_729 + i as usize * 17) % people);
        async move {
            let who = principal(&learner, Role::Learner);
            app.list_progress(&who, None, 0, String::new())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    Ok(Row::closed_loop(
        "portal: my learning",
        "HTTP → gateway → gRPC",
        clients,
        result,
        storage,
        "storage baseline: records-service's ListProgress for the learner, the query my learning rests on",
    ))
}

pub(super) async fn records_app(suite: &Suite) -> anyhow::Result<records_service::app::RecordsApp> {
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Records).await?;
    Ok(records_service::app(db, &topology.records_peers()?))
}
