//! A learner's training history: their enrolments in the suite and the training done
//! elsewhere that admins recorded (manual records), in one list.

use chrono::NaiveDateTime;
use lms_platform::{AppResult, Principal};

use super::{ProgressView, RecordsApp, view};
use crate::domain::certification::Certification;
use crate::domain::manual::ManualRecord;
use crate::domain::progress;
use crate::storage::{certifications, enrolments, manual};

/// Which transcript entries to show: completed or not (None: both), dated in [from, to).
#[derive(Debug, Clone, Copy, Default)]
pub struct TranscriptFilter {
    pub outcome: Option<bool>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

impl TranscriptFilter {
    fn wants(&self, completed: bool, dated: NaiveDateTime) -> bool {
        self.outcome.is_none_or(|wanted| wanted == completed)
            && self.from.is_none_or(|from| dated >= from)
            && self.to.is_none_or(|to| dated < to)
    }
}

/// One line of a learner's training history.
pub enum TranscriptEntry {
    /// An enrolment in the suite (withdrawn ones included).
    Enrolment {
        progress: Box<ProgressView>,
        best_score_percent: f64,
        certification: Option<Certification>,
    },
    /// Training done elsewhere, recorded by an admin (always completed).
    Manual(ManualRecord),
}

impl TranscriptEntry {
    /// When it happened: its completion, else the assignment.
    pub fn dated(&self) -> NaiveDateTime {
        match self {
            TranscriptEntry::Enrolment { progress, .. } => progress
                .progress
                .completed_at
                .unwrap_or(progress.enrolment.assigned_at),
            TranscriptEntry::Manual(record) => record.completed_at,
        }
    }

    /// Its id: the enrolment's or the manual record's.
    pub fn id(&self) -> &str {
        match self {
            TranscriptEntry::Enrolment { progress, .. } => &progress.enrolment.id,
            TranscriptEntry::Manual(record) => &record.id,
        }
    }
}

impl RecordsApp {
    /// A learner's training history, newest first (by completion, else assignment), filtered
    /// by date and outcome.
    pub async fn transcript(
        &self,
        who: &Principal,
        learner: Option<String>,
        filter: TranscriptFilter,
    ) -> AppResult<Vec<TranscriptEntry>> {
        let learner = self.team_readable_learner(who, learner).await?;
        let tenant = who.tenant_id.clone();
        let mut entries = self
            .db
            .read(move |conn| {
                let mut entries = Vec::new();
                for enrolment in enrolments::history(conn, &tenant, &learner)? {
                    let progress = view(conn, &tenant, enrolment)?;
                    let completed = progress.progress.status == progress::Status::Completed;
                    let entry_date = progress
                        .progress
                        .completed_at
                        .unwrap_or(progress.enrolment.assigned_at);
                    if !filter.wants(completed, entry_date) {
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
                    entries.push(TranscriptEntry::Enrolment {
                        progress: Box::new(progress),
                        best_score_percent,
                        certification,
                    });
                }
                for record in manual::all_of_learner(conn, &tenant, &learner)? {
                    if filter.wants(true, record.completed_at) {
                        entries.push(TranscriptEntry::Manual(record));
                    }
                }
                Ok(entries)
            })
            .await?;
        entries.sort_by(|a, b| b.dated().cmp(&a.dated()).then(b.id().cmp(a.id())));
        Ok(entries)
    }
}
