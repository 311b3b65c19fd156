//! The daily digest: a person who chose it gets their reminders by email as one message a day,
//! at the digest hour (UTC), instead of one message each. Each person's digest is taken by one
//! replica (their `last_digest_at` moves first) and given back when it cannot be sent.

use chrono::{NaiveDateTime, NaiveTime};
use lms_platform::AppResult;
use lms_platform::resource::now;
use lms_platform::validate::new_id;

use super::NotificationApp;
use crate::clients::mail::{MailError, Outgoing};
use crate::storage::notifications::{self as stored, Row};
use crate::storage::preferences;

/// People served per run (a run goes on until none is left).
const PEOPLE_AT_ONCE: i64 = 200;

impl NotificationApp {
    /// Sends the digests due at `now`: from the day's digest hour on, everyone with digest on
    /// whose reminders have waited since before it, once a day. Returns how many went out.
    /// Tests pass their own `now`.
    pub async fn send_digests(&self, now: NaiveDateTime) -> AppResult<usize> {
        let hour = NaiveTime::from_hms_opt(self.config.digest_hour, 0, 0).unwrap_or_default();
        let cutoff = now.date().and_time(hour);
        if now < cutoff || !self.mailer.enabled() {
            return Ok(0);
        }
        let mut sent = 0;
        loop {
            let people = self
                .db
                .read(move |conn| stored::awaiting_digest(conn, cutoff, PEOPLE_AT_ONCE))
                .await?;
            let mut progressed = false;
            for (tenant, person) in &people {
                match self.digest_of(tenant, person, cutoff, now).await? {
                    Some(true) => {
                        sent += 1;
                        progressed = true;
                    }
                    Some(false) => progressed = true,
                    None => {}
                }
            }
            if people.len() < PEOPLE_AT_ONCE as usize || !progressed {
                return Ok(sent);
            }
        }
    }

    /// The periodic task.
    pub async fn send_digests_and_log(&self) {
        match self.send_digests(now()).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "daily digests sent"),
            Err(error) => tracing::warn!(%error, "sending digests failed; it runs again"),
        }
    }

    /// One person's digest: Some(true) sent, Some(false) settled without sending (refused for
    /// good, or given back to retry), None when another replica has it.
    async fn digest_of(
        &self,
        tenant: &str,
        person: &str,
        cutoff: NaiveDateTime,
        now: NaiveDateTime,
    ) -> AppResult<Option<bool>> {
        let (t, p) = (tenant.to_string(), person.to_string());
        let taken = self
            .db
            .write(move |conn| {
                let Some(previous) = preferences::take_digest(conn, &t, &p, cutoff, now)? else {
                    return Ok(None);
                };
                Ok(Some((previous, stored::in_digest(conn, &t, &p, cutoff)?)))
            })
            .await?;
        let Some((previous, rows)) = taken else {
            return Ok(None);
        };
        let Some(first) = rows.first() else {
            return Ok(Some(false));
        };
        let (subject, body) = compose(&rows, self.config.portal_url.trim_end_matches('/'));
        let id = new_id();
        let outcome = self
            .mailer
            .send(Outgoing {
                to: &first.email_to,
                to_name: "",
                subject: &subject,
                body: &body,
                id: &id,
            })
            .await;
        let delivered = outcome.is_ok();
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let (t, p) = (tenant.to_string(), person.to_string());
        self.db
            .write(move |conn| match &outcome {
                Ok(()) => stored::digested(conn, &t, &ids, stored::EMAIL_SENT, ""),
                Err(MailError::Permanent(why)) => {
                    stored::digested(conn, &t, &ids, stored::EMAIL_FAILED, why)
                }
                Err(MailError::Transient(_)) => {
                    preferences::give_back_digest(conn, &t, &p, previous)
                }
            })
            .await?;
        Ok(Some(delivered))
    }
}

/// The digest's subject and plain-text body: each reminder's subject, then the portal.
fn compose(rows: &[Row], portal: &str) -> (String, String) {
    let subject = match rows.len() {
        1 => format!("Your learning reminder: {}", rows[0].subject),
        n => format!("Your learning reminders: {n} items"),
    };
    let mut body = String::from("Hello,\n\nHere is what needs your attention:\n\n");
    for row in rows {
        body.push_str("- ");
        body.push_str(&row.subject);
        body.push('\n');
    }
    body.push_str(&format!(
        "\nYour learning: {portal}\n\nYou receive these reminders once a day because you chose \
         the daily digest; change it in your notification preferences.\n"
    ));
    (subject, body)
}
