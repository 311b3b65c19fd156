//! A learner's training history.

use chrono::NaiveDateTime;
use lms_platform::{AppResult, Principal};

use super::{ProgressView, RecordsApp, view};
use crate::domain::certification::Certification;
use crate::domain::progress;
use crate::storage::{certifications, enrolments};

/// Which transcript entries to show: completed or not (None: both), dated in [from, to).
#[derive(Debug, Clone, Copy, Default)]
pub struct TranscriptFilter {
    pub outcome: Option<bool>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// One line of a learner's training history.
pub struct TranscriptEntry {
    pub progress: ProgressView,
    pub best_score_percent: f64,
    pub certification: Option<Certification>,
}

impl RecordsApp {
    /// A learner's training history, newest first, filtered by date and outcome.
    pub async fn transcript(
        &self,
        who: &Principal,
        learner: Option<String>,
        filter: TranscriptFilter,
    ) -> AppResult<Vec<TranscriptEntry>> {
        let learner = self.readable_learner(who, learner)?;
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let mut entries = Vec::new();
                for enrolment in enrolments::history(conn, &tenant, &learner)? {
                    let progress = view(conn, &tenant, enrolment)?;
                    let completed = progress.progress.status == progress::Status::Completed;
                    let dated = progress
                        .progress
                        .completed_at
                        .unwrap_or(progress.enrolment.assigned_at);
                    let wanted = match filter.outcome {
                        Some(true) => completed,
                        Some(false) => !completed,
                        None => true,
                    } && filter.from.is_none_or(|from| dated >= from)
                        && filter.to.is_none_or(|to| dated < to);
                    if !wanted {
                        continue;
                    }
                    let certification =
                        certifications::of_enrolment(conn, &tenant, &progress.enrolment.id)?;
                    let best_score_percent = progress
                        .progress
                        .steps
                        .iter()
                        .map(|s| s.score_percent)
                        .fold(0.0, f64::max);
                    entries.push(TranscriptEntry {
                        progress,
                        best_score_percent,
                        certification,
                    });
                }
                Ok(entries)
            })
            .await
    }
}
