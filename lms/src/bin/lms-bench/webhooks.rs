//! `lms-bench notify`'s webhook figures: N events applied by notification-service and queued
//! for one webhook (events per second), then POSTed — signed, over pooled connections — to a
//! local receiver that answers 204 (deliveries per second).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lms_platform::ids::TenantId;
use lms_platform::inbox::Delivered;
use lms_platform::validate::new_id;
use lms_platform::{Principal, Role};
use lms_proto::enrolment_v1 as pb;
use notification_service::app::{NotificationApp, WebhookChange};
use notification_service::events::Incoming;
use prost::Message;

/// What the webhook measurement found.
pub struct Figures {
    pub events: usize,
    pub enqueue: Duration,
    pub deliver: Duration,
    pub received: usize,
}

/// A receiver on a loopback port counting the deliveries it accepts.
async fn receiver() -> anyhow::Result<(SocketAddr, Arc<AtomicUsize>)> {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((address, count))
}

/// Queues `events` for a webhook subscribed to every type, then delivers them all.
pub async fn measure(app: &NotificationApp, events: usize) -> anyhow::Result<Figures> {
    let (address, received) = receiver().await?;
    let tenant = TenantId::parse("bench-webhooks")?;
    let admin = Principal {
        subject: "admin@bench".into(),
        tenant_id: tenant.clone(),
        roles: [Role::Admin].into_iter().collect(),
        call: Default::default(),
    };
    app.create_webhook(
        &admin,
        WebhookChange {
            url: Some(format!("http://{address}/hook")),
            event_types: Some(vec!["*".into()]),
            description: Some("lms-bench".into()),
            active: None,
        },
    )
    .await?;
    let occurred_at = lms_platform::resource::now();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(500);
    for n in 0..events {
        let enrolment = pb::Enrolment {
            id: new_id(),
            learner: format!("learner-{n}"),
            pathway_id: "0190d5a0-0000-7000-8000-000000000001".into(),
            ..Default::default()
        };
        batch.push(Delivered {
            id: new_id(),
            tenant_id: Some(tenant.clone()),
            type_url: "type.googleapis.com/lms.enrolment.v1.EnrolmentCreated".into(),
            payload: Ok(Incoming {
                id: new_id(),
                event_type: "lms.enrolment.v1.EnrolmentCreated".into(),
                aggregate_id: enrolment.id.clone(),
                occurred_at,
                payload: pb::EnrolmentCreated {
                    enrolment: Some(enrolment),
                }
                .encode_to_vec(),
                // Only the webhook is measured here, not the learner's notifications.
                received: None,
            }),
        });
        if batch.len() == 500 || n + 1 == events {
            let outcome = app.apply_events(std::mem::take(&mut batch)).await?;
            anyhow::ensure!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
        }
    }
    let enqueue = started.elapsed();
    let started = Instant::now();
    let mut accepted = 0;
    while accepted < events {
        let now = lms_platform::resource::now();
        let sent = app.deliver_webhooks(now).await?;
        anyhow::ensure!(sent > 0, "deliveries stalled at {accepted} of {events}");
        accepted += sent;
    }
    let deliver = started.elapsed();
    Ok(Figures {
        events,
        enqueue,
        deliver,
        received: received.load(Ordering::Relaxed),
    })
}
