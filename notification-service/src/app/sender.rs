//! The sender: gives each decided notification its recipient and text (the learner, or for an
//! escalation their manager; the tenant's template in the recipient's locale), puts it in the
//! inbox, and emails it where the recipient has an address. Remote lookups happen outside
//! transactions; outcomes are written per batch.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use futures::StreamExt;
use lms_platform::ids::TenantId;
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult};
use serde_json::{Map, Value};

use super::NotificationApp;
use crate::clients::directory::Person;
use crate::clients::mail::{MailError, Outgoing};
use crate::domain::kind::Kind;
use crate::domain::template::{self, Text};
use crate::storage::notifications::{self as stored, Prepared, Row, Work};
use crate::storage::{preferences, templates, tracked};

/// How long a worker holds the rows it claimed.
const LEASE: Duration = Duration::from_secs(120);
/// Notifications prepared at once (each asks the directory, and pathway-service once per
/// pathway and few minutes).
const PREPARE_CONCURRENCY: usize = 16;
/// Attempts to prepare or to email before giving up (with the backoff, about a day).
const MAX_ATTEMPTS: i32 = 16;

/// What one pass of the sender did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Put in an inbox (or muted, cancelled, failed: settled).
    pub prepared: usize,
    /// Emailed.
    pub emailed: usize,
}

/// The outcome of preparing one row.
enum Preparation {
    Ready {
        recipient: Person,
        text: Text,
        /// Emailed with the recipient's daily digest rather than alone.
        digest: bool,
    },
    /// Settled without reaching anyone: muted, cancelled or failed, and why.
    Settled {
        state: &'static str,
        why: String,
    },
    Retry(String),
}

impl NotificationApp {
    /// Prepares and emails everything due at `now`, batch after batch.
    pub async fn send_due(&self, now: NaiveDateTime) -> AppResult<Sent> {
        let mut sent = Sent::default();
        loop {
            let prepared = self.prepare_batch(now).await?;
            sent.prepared += prepared;
            if prepared < self.config.batch as usize {
                break;
            }
        }
        loop {
            let (claimed, emailed) = self.email_batch(now).await?;
            sent.emailed += emailed;
            if claimed < self.config.batch as usize {
                break;
            }
        }
        Ok(sent)
    }

    /// The periodic task.
    pub async fn send_and_log(&self) {
        if let Err(error) = self.send_due(now()).await {
            tracing::warn!(%error, "sending notifications failed; it runs again");
        }
    }

    async fn claim(&self, work: Work, now: NaiveDateTime) -> AppResult<Vec<Row>> {
        let batch = self.config.batch;
        let lease_until = super::lease_until(now, LEASE);
        self.db
            .write(move |conn| stored::claim(conn, work, now, lease_until, batch))
            .await
    }

    /// What a batch's preparations share, read once for the whole batch: the followed
    /// enrolments and their learners (one directory call per 500 people).
    async fn prefetch(&self, rows: &[Row]) -> Prefetched {
        let mut prefetched = Prefetched::default();
        let mut tenants: Vec<&str> = rows.iter().map(|row| row.tenant_id.as_str()).collect();
        tenants.sort();
        tenants.dedup();
        for tenant in tenants {
            let Ok(tenant_id) = TenantId::parse(tenant) else {
                continue;
            };
            if let Ok(own) = self
                .db
                .read(move |conn| templates::all(conn, &tenant_id))
                .await
            {
                prefetched.templates.insert(tenant.to_string(), own);
            }
        }
        let mut by_tenant: HashMap<&str, Vec<&str>> = HashMap::new();
        for row in rows.iter().filter(|row| !row.enrolment_id.is_empty()) {
            by_tenant
                .entry(&row.tenant_id)
                .or_default()
                .push(&row.enrolment_id);
        }
        for (tenant, ids) in by_tenant {
            let (t, ids): (String, Vec<String>) = (
                tenant.to_string(),
                ids.iter().map(|s| s.to_string()).collect(),
            );
            let followed = self
                .db
                .read(move |conn| {
                    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                    tracked::find_all(conn, &t, &ids)
                })
                .await;
            // Without them each preparation asks on its own: slower, not wrong.
            let Ok(followed) = followed else { continue };
            let Ok(tenant_id) = TenantId::parse(tenant) else {
                continue;
            };
            let mut people: Vec<String> = followed.iter().map(|f| f.person_id.clone()).collect();
            people.sort();
            people.dedup();
            if let Ok(found) = self.directory.by_ids(&tenant_id, &people).await {
                for (id, person) in found {
                    prefetched.people.insert((tenant.to_string(), id), person);
                }
            }
            for row in followed {
                prefetched
                    .followed
                    .insert((row.tenant_id.clone(), row.enrolment_id.clone()), row);
            }
        }
        prefetched
    }

    /// Prepares one batch; returns how many rows it claimed.
    async fn prepare_batch(&self, now: NaiveDateTime) -> AppResult<usize> {
        let rows = self.claim(Work::Prepare, now).await?;
        let claimed = rows.len();
        let prefetched = &self.prefetch(&rows).await;
        // Each preparation may still wait on the directory (managers, people not followed)
        // and pathway-service: many at once.
        let outcomes: Vec<(Row, Preparation)> = futures::stream::iter(rows)
            .map(|row| async move {
                let outcome = self.prepare(&row, prefetched).await;
                (row, outcome)
            })
            .buffer_unordered(PREPARE_CONCURRENCY)
            .collect()
            .await;
        let email_on = self.mailer.enabled();
        self.db
            .write(move |conn| {
                let mut done = Vec::with_capacity(outcomes.len());
                for (row, outcome) in &outcomes {
                    match outcome {
                        Preparation::Ready {
                            recipient,
                            text,
                            digest,
                        } => {
                            let email = email_on && !recipient.email.is_empty();
                            done.push((
                                row,
                                Prepared {
                                    recipient: &recipient.external_id,
                                    subject: &text.subject,
                                    body: &text.body,
                                    state: stored::READY,
                                    email_state: match (email, digest) {
                                        (false, _) => stored::EMAIL_NONE,
                                        (true, true) => stored::EMAIL_DIGEST,
                                        (true, false) => stored::EMAIL_PENDING,
                                    },
                                    email_to: &recipient.email,
                                    note: "",
                                },
                            ));
                        }
                        Preparation::Settled { state, why } => {
                            if *state == stored::FAILED {
                                tracing::warn!(notification = %row.id, %why, "a notification cannot be delivered");
                                stored::failed(conn, row, why)?;
                            } else {
                                done.push((
                                    row,
                                    Prepared {
                                        recipient: "",
                                        subject: "",
                                        body: "",
                                        state,
                                        email_state: stored::EMAIL_NONE,
                                        email_to: "",
                                        note: why,
                                    },
                                ));
                            }
                        }
                        Preparation::Retry(error) => {
                            let at = now + backoff(row.attempts);
                            stored::retry_at(conn, row, at, error)?;
                        }
                    }
                }
                stored::prepared_all(conn, &done)
            })
            .await?;
        Ok(claimed)
    }

    /// A failure to prepare (the directory or pathway-service down, the service identity
    /// refused) is retried with backoff; after about a day of attempts it is given up on.
    async fn prepare(&self, row: &Row, prefetched: &Prefetched) -> Preparation {
        match self.try_prepare(row, prefetched).await {
            Ok(preparation) => preparation,
            Err(error) if row.attempts + 1 >= MAX_ATTEMPTS => Preparation::Settled {
                state: stored::FAILED,
                why: format!("gave up after {MAX_ATTEMPTS} attempts: {error}"),
            },
            Err(error) => Preparation::Retry(error.to_string()),
        }
    }

    async fn try_prepare(&self, row: &Row, prefetched: &Prefetched) -> AppResult<Preparation> {
        let settled = |state, why: &str| {
            Ok(Preparation::Settled {
                state,
                why: why.to_string(),
            })
        };
        let Some(kind) = Kind::parse(&row.kind) else {
            return settled(stored::FAILED, "unknown kind");
        };
        let tenant = TenantId::parse(&row.tenant_id).map_err(AppError::internal)?;
        let key = (row.tenant_id.clone(), row.enrolment_id.clone());
        let follow = match prefetched.followed.get(&key) {
            Some(found) => Some(found.clone()),
            None => {
                let (tenant, enrolment) = (tenant.clone(), row.enrolment_id.clone());
                self.db
                    .read(move |conn| tracked::find(conn, &tenant, &enrolment))
                    .await?
            }
        };
        if kind.is_reminder()
            && let Some(enrolment) = &follow
            && enrolment.state != tracked::OPEN
        {
            return settled(stored::CANCELLED, "the enrolment is no longer open");
        }
        let learner = match &follow {
            Some(enrolment) => {
                let key = (row.tenant_id.clone(), enrolment.person_id.clone());
                match prefetched.people.get(&key) {
                    Some(person) => Some(person.clone()),
                    None => self.directory.by_id(&tenant, &enrolment.person_id).await?,
                }
            }
            None => self.directory.by_external_id(&tenant, &row.learner).await?,
        };
        let Some(learner) = learner else {
            return settled(stored::FAILED, "the learner is not in the directory");
        };
        let recipient = if row.for_manager {
            if learner.manager_external_id.is_empty() {
                return settled(
                    stored::FAILED,
                    "the learner has no manager in the directory",
                );
            }
            match self
                .directory
                .by_external_id(&tenant, &learner.manager_external_id)
                .await?
            {
                Some(manager) => manager,
                None => {
                    return settled(
                        stored::FAILED,
                        "the learner's manager is not in the directory",
                    );
                }
            }
        } else {
            learner.clone()
        };
        // Preferences matter to what may be muted, and to reminders (the digest).
        let mut digest = false;
        if !row.mandatory || kind.is_reminder() {
            let (tenant, person) = (row.tenant_id.clone(), recipient.external_id.clone());
            let chosen = self
                .db
                .read(move |conn| preferences::get(conn, &tenant, &person))
                .await?;
            if !row.mandatory && chosen.muted.contains(&kind) {
                return settled(stored::MUTED, "muted by the recipient");
            }
            digest = chosen.digests(kind);
        }
        let title = if row.pathway_id.is_empty() {
            String::new()
        } else {
            self.pathways.title(&tenant, &row.pathway_id).await?
        };
        let text = match prefetched.templates.get(&row.tenant_id) {
            Some(own) => pick(own, kind, &recipient.locale),
            None => {
                self.template_for(&row.tenant_id, kind, &recipient.locale)
                    .await?
            }
        };
        let values = self.values(row, kind, &learner, &recipient, title);
        match template::render(&text, &values) {
            Ok(text) => Ok(Preparation::Ready {
                recipient,
                text,
                digest,
            }),
            Err(why) => settled(
                stored::FAILED,
                &format!("the template does not render: {why}"),
            ),
        }
    }

    /// The tenant's template for `kind` in `locale` (or its language, or English), else the
    /// shipped one.
    pub(super) async fn template_for(
        &self,
        tenant: &str,
        kind: Kind,
        locale: &str,
    ) -> AppResult<Text> {
        let locales = fallbacks(locale);
        let tenant = tenant.to_string();
        let stored = self
            .db
            .read(move |conn| templates::best(conn, &tenant, kind.as_str(), &locales))
            .await?;
        Ok(stored.map_or_else(
            || template::shipped(kind),
            |s| Text {
                subject: s.subject,
                body: s.body,
            },
        ))
    }

    fn values(
        &self,
        row: &Row,
        kind: Kind,
        learner: &Person,
        recipient: &Person,
        title: String,
    ) -> Map<String, Value> {
        let portal = self.config.portal_url.trim_end_matches('/');
        let mut values: Map<String, Value> = serde_json::from_str(&row.facts).unwrap_or_default();
        values.insert("learner_name".into(), learner.name.clone().into());
        values.insert("pathway_title".into(), title.into());
        values.insert("portal_url".into(), portal.into());
        let link = if row.pathway_id.is_empty() {
            portal.to_string()
        } else {
            format!("{portal}/pathways/{}", row.pathway_id)
        };
        values.insert("link".into(), link.into());
        values.insert("mandatory".into(), row.mandatory.into());
        if kind == Kind::Escalation {
            values.insert("manager_name".into(), recipient.name.clone().into());
        }
        // Only the kind's own variables: a template is checked against exactly these.
        let allowed = kind.variables();
        values.retain(|name, _| allowed.contains(&name.as_str()));
        values
    }

    /// Emails one batch; returns (claimed, emailed).
    async fn email_batch(&self, now: NaiveDateTime) -> AppResult<(usize, usize)> {
        let rows = self.claim(Work::Email, now).await?;
        let claimed = rows.len();
        let mailer = self.mailer.clone();
        let outcomes: Vec<(Row, Result<(), MailError>)> = futures::stream::iter(rows)
            .map(|row| {
                let mailer = mailer.clone();
                async move {
                    let sent = mailer
                        .send(Outgoing {
                            to: &row.email_to,
                            to_name: "",
                            subject: &row.subject,
                            body: &row.body,
                            id: &row.id,
                        })
                        .await;
                    (row, sent)
                }
            })
            .buffer_unordered(self.mailer.concurrency)
            .collect()
            .await;
        let emailed = outcomes.iter().filter(|(_, sent)| sent.is_ok()).count();
        self.db
            .write(move |conn| {
                for (row, sent) in &outcomes {
                    match sent {
                        Ok(()) => stored::emailed(conn, row, stored::EMAIL_SENT, "")?,
                        Err(MailError::Permanent(why)) => {
                            tracing::warn!(notification = %row.id, %why, "the relay refused a message for good");
                            stored::emailed(conn, row, stored::EMAIL_FAILED, why)?;
                        }
                        Err(MailError::Transient(why)) if row.attempts + 1 >= MAX_ATTEMPTS => {
                            stored::emailed(conn, row, stored::EMAIL_FAILED, why)?;
                        }
                        Err(MailError::Transient(why)) => {
                            stored::retry_at(conn, row, now + backoff(row.attempts), why)?;
                        }
                    }
                }
                Ok(())
            })
            .await?;
        Ok((claimed, emailed))
    }
}

/// What a batch's preparations read once: followed enrolments and people, by (tenant, id), and
/// each tenant's own templates.
#[derive(Default)]
struct Prefetched {
    followed: HashMap<(String, String), tracked::Tracked>,
    people: HashMap<(String, String), Person>,
    templates: HashMap<String, Vec<templates::Stored>>,
}

/// The locales tried for a person's `locale`, best first: it, its language, English.
fn fallbacks(locale: &str) -> Vec<String> {
    let mut locales = Vec::new();
    if !locale.is_empty() {
        locales.push(locale.to_string());
        if let Some((language, _)) = locale.split_once('-') {
            locales.push(language.to_string());
        }
    }
    locales.push("en".to_string());
    locales
}

/// [`NotificationApp::template_for`] among a tenant's templates already read.
fn pick(own: &[templates::Stored], kind: Kind, locale: &str) -> Text {
    fallbacks(locale)
        .iter()
        .find_map(|locale| {
            own.iter()
                .find(|s| s.kind == kind.as_str() && &s.locale == locale)
        })
        .map_or_else(
            || template::shipped(kind),
            |s| Text {
                subject: s.subject.clone(),
                body: s.body.clone(),
            },
        )
}

/// 5 s after the first failure, doubling, at most two hours.
fn backoff(attempts: i32) -> chrono::Duration {
    let seconds = 5i64.saturating_mul(1i64 << attempts.clamp(0, 20));
    chrono::Duration::seconds(seconds.min(7_200))
}
