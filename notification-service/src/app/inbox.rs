//! A person's inbox and preferences: always the caller's own (the token's subject).

use chrono::NaiveDateTime;
use lms_platform::pagination::{self, Page};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, audit};

use super::{NotificationApp, not_yours};
use crate::domain::kind::Kind;
use crate::domain::preferences::Preferences;
use crate::storage::notifications::{self as stored, Row};
use crate::storage::preferences;

const TOKEN_TIME: &str = "%Y-%m-%dT%H:%M:%S%.f";

/// A notification as its recipient sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationView {
    pub id: String,
    pub kind: Option<Kind>,
    pub subject: String,
    pub body: String,
    pub pathway_id: String,
    pub enrolment_id: String,
    pub mandatory: bool,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

impl From<Row> for NotificationView {
    fn from(row: Row) -> Self {
        NotificationView {
            kind: Kind::parse(&row.kind),
            id: row.id,
            subject: row.subject,
            body: row.body,
            pathway_id: row.pathway_id,
            enrolment_id: row.enrolment_id,
            mandatory: row.mandatory,
            created_at: row.created_at,
            read_at: row.read_at,
        }
    }
}

impl NotificationApp {
    /// The caller's notifications, newest first.
    pub async fn inbox(
        &self,
        who: &Principal,
        unread_only: bool,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<NotificationView>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("unread_only={unread_only}");
        let after = pagination::decode_key::<2>(page_token, &filters)?
            .map(|[at, id]| {
                NaiveDateTime::parse_from_str(&at, TOKEN_TIME)
                    .map(|at| (at, id))
                    .map_err(|_| AppError::invalid_field("page_token", "is malformed"))
            })
            .transpose()?;
        let (tenant, me) = (who.tenant_id.clone(), who.subject.clone());
        let rows = self
            .db
            .read(move |conn| stored::inbox(conn, &tenant, &me, unread_only, after, limit + 1))
            .await?;
        let views: Vec<NotificationView> = rows.into_iter().map(NotificationView::from).collect();
        Ok(pagination::paginate(views, limit, &filters, |view| {
            vec![
                view.created_at.format(TOKEN_TIME).to_string(),
                view.id.clone(),
            ]
        }))
    }

    pub async fn unread_count(&self, who: &Principal) -> AppResult<i64> {
        let (tenant, me) = (who.tenant_id.clone(), who.subject.clone());
        self.db
            .read(move |conn| stored::unread(conn, &tenant, &me))
            .await
    }

    /// Marks the caller's notifications read (`ids`, or all when None); how many were unread.
    pub async fn mark_read(&self, who: &Principal, ids: Option<Vec<String>>) -> AppResult<usize> {
        let (tenant, me) = (who.tenant_id.clone(), who.subject.clone());
        let who = who.clone();
        self.db
            .write(move |conn| {
                if let Some(ids) = &ids {
                    let mine = stored::owned(conn, &tenant, &me, ids)?;
                    if let Some(other) = ids.iter().find(|id| !mine.contains(id)) {
                        return Err(not_yours("notification", other));
                    }
                }
                let marked = stored::mark_read(conn, &tenant, &me, ids.as_deref(), now())?;
                let resource = format!("people/{me}/notifications");
                let what = serde_json::json!({ "marked_read": marked, "ids": ids });
                audit::record(conn, &who, audit::Change::acted(resource, &what)?)?;
                Ok(marked)
            })
            .await
    }

    /// The caller's preferences.
    pub async fn preferences(&self, who: &Principal) -> AppResult<Preferences> {
        let (tenant, me) = (who.tenant_id.to_string(), who.subject.clone());
        self.db
            .read(move |conn| preferences::get(conn, &tenant, &me))
            .await
    }

    /// Changes the caller's preferences: the muted kinds (only kinds that may be muted) and
    /// the digest, each when given. Turning the digest off sends what waited for it one by one.
    pub async fn update_preferences(
        &self,
        who: &Principal,
        muted: Option<Vec<Kind>>,
        digest: Option<bool>,
    ) -> AppResult<Preferences> {
        if let Some(kind) = muted.iter().flatten().find(|k| !k.mutable()) {
            return Err(AppError::invalid_field(
                "preferences.muted",
                format!(
                    "{} notifications cannot be muted: mandatory training and compliance depend on them",
                    kind.as_str()
                ),
            ));
        }
        let (tenant, me) = (who.tenant_id.to_string(), who.subject.clone());
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut saved = preferences::get(conn, &tenant, &me)?;
                let before = audited(&saved);
                if let Some(muted) = muted {
                    saved.muted = muted;
                }
                if let Some(digest) = digest {
                    if saved.digest && !digest {
                        stored::release_digest(conn, &tenant, &me)?;
                    }
                    saved.digest = digest;
                }
                preferences::save(conn, &tenant, &me, &saved)?;
                let resource = format!("people/{me}/notificationPreferences");
                let change = audit::Change::updated(resource, &before, &audited(&saved))?;
                audit::record(conn, &who, change)?;
                Ok(saved)
            })
            .await
    }
}

/// Preferences as the audit trail keeps them.
fn audited(preferences: &Preferences) -> serde_json::Value {
    let muted: Vec<&str> = preferences.muted.iter().map(|k| k.as_str()).collect();
    serde_json::json!({ "muted": muted, "digest": preferences.digest })
}
