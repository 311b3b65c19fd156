//! The calendars of the people attending and teaching training sessions: downloaded with the
//! caller's token, or read by calendar apps from a secret feed address.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, audit};

use super::bookings::with_sessions;
use super::{RecordsApp, is_staff};
use crate::domain::calendar;
use crate::domain::secrets::{new_secret, secret_hash};
use crate::domain::session::{BookingState, Session};
use crate::storage::bookings::{self, BookingQuery};
use crate::storage::calendar_feeds;
use crate::storage::sessions::{self, SessionQuery};

/// The most sessions one calendar holds.
const MAX_CALENDAR_SESSIONS: i64 = 1_000;

/// A new feed: its secret (shown once) and when it was made.
pub struct NewFeed {
    pub secret: String,
    pub created_at: NaiveDateTime,
}

impl RecordsApp {
    /// The caller's calendar: the sessions they hold a seat on and the sessions they teach;
    /// or one booking's session.
    pub async fn export_calendar(
        &self,
        who: &Principal,
        booking_id: Option<String>,
    ) -> AppResult<String> {
        let who = who.clone();
        self.db
            .read(move |conn| {
                let tenant = &who.tenant_id;
                let Some(id) = booking_id else {
                    return calendar_of(conn, tenant, &who.subject);
                };
                let booking = bookings::get(conn, tenant, &id)?;
                if !is_staff(&who) && booking.learner != who.subject {
                    return Err(AppError::not_found(format!("booking {id}")));
                }
                let session = sessions::get(conn, tenant, &booking.session_id)?;
                let name = session.step_title.clone();
                Ok(calendar::calendar(&name, &[session]))
            })
            .await
    }

    /// Gives the caller a calendar feed, replacing the one they had.
    pub async fn create_calendar_feed(&self, who: &Principal) -> AppResult<NewFeed> {
        let (tenant, subject) = (who.tenant_id.clone(), who.subject.clone());
        let feed = NewFeed {
            secret: new_secret(),
            created_at: now(),
        };
        let (hash, at) = (secret_hash(&feed.secret), feed.created_at);
        let who = who.clone();
        self.db
            .write(move |conn| {
                calendar_feeds::replace(conn, &tenant, &subject, &hash, at)?;
                // The secret is the feed's only credential: the trail says a feed was made.
                let resource = format!("calendarFeeds/{subject}");
                let made = serde_json::json!({ "created_at": at });
                audit::record(conn, &who, audit::Change::created(resource, &made)?)
            })
            .await?;
        Ok(feed)
    }

    /// Stops the caller's feed; whether there was one.
    pub async fn delete_calendar_feed(&self, who: &Principal) -> AppResult<bool> {
        let (tenant, subject) = (who.tenant_id.clone(), who.subject.clone());
        let who = who.clone();
        self.db
            .write(move |conn| {
                let removed = calendar_feeds::remove(conn, &tenant, &subject)?;
                if removed {
                    let resource = format!("calendarFeeds/{subject}");
                    let gone = serde_json::json!({ "feed": "stopped" });
                    audit::record(conn, &who, audit::Change::deleted(resource, &gone)?)?;
                }
                Ok(removed)
            })
            .await
    }

    /// The calendar of the feed with this secret (NOT_FOUND for any other).
    pub async fn export_calendar_feed(&self, secret: String) -> AppResult<String> {
        let hash = secret_hash(&secret);
        self.db
            .read(move |conn| {
                let (tenant, subject) = calendar_feeds::owner(conn, &hash)?
                    .ok_or_else(|| AppError::not_found("calendar feed"))?;
                let tenant = TenantId::parse(&tenant).map_err(AppError::internal)?;
                calendar_of(conn, &tenant, &subject)
            })
            .await
    }
}

/// A person's sessions: those they hold a seat on and those they teach, by start time.
fn calendar_of(conn: &mut DbConnection, tenant: &TenantId, subject: &str) -> AppResult<String> {
    let booked = bookings::list(
        conn,
        tenant,
        BookingQuery {
            learner: Some(subject.to_string()),
            states: vec![BookingState::Booked],
            limit: Some(MAX_CALENDAR_SESSIONS),
            ..Default::default()
        },
    )?;
    let mut all: Vec<Session> = with_sessions(conn, tenant, booked)?
        .into_iter()
        .map(|b| b.session)
        .collect();
    let taught = sessions::list(
        conn,
        tenant,
        SessionQuery {
            instructor: Some(subject.to_string()),
            limit: MAX_CALENDAR_SESSIONS,
            ..Default::default()
        },
    )?;
    let mut seen: HashSet<String> = all.iter().map(|s| s.id.clone()).collect();
    all.extend(taught.into_iter().filter(|s| seen.insert(s.id.clone())));
    all.sort_by_key(|s| s.schedule.start_at);
    Ok(calendar::calendar("Training sessions", &all))
}
