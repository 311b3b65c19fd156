//! Assessments: which questions, how attempts are limited and scored, what learners see.

use chrono::NaiveDateTime;
use lms_platform::ids::PathwayId;
use lms_platform::resource::Audit;
use serde::{Deserialize, Serialize};

pub const MAX_QUESTIONS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum QuestionSource {
    Fixed {
        question_ids: Vec<String>,
    },
    Random {
        bank_id: String,
        tags: Vec<String>,
        count: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeedbackPolicy {
    None,
    AfterSubmit,
    AfterClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scoring {
    Highest,
    Average,
    First,
    Latest,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub id: String,
    pub title: String,
    pub pathway_id: PathwayId,
    pub step_id: String,
    pub questions: QuestionSource,
    pub pass_mark_percent: f64,
    /// 0: unlimited.
    pub max_attempts: i32,
    /// 0: none.
    pub time_limit_seconds: i32,
    pub shuffle_questions: bool,
    pub shuffle_options: bool,
    pub feedback: FeedbackPolicy,
    pub scoring: Scoring,
    pub close_at: Option<NaiveDateTime>,
}

/// The ASSESSMENT step to add to the pathway's draft with a new assessment, in one call.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAssessmentStep {
    pub title: String,
    pub description: String,
    pub required: bool,
    pub prerequisite_step_ids: Vec<String>,
    pub position: Option<i32>,
    pub estimated_minutes: i32,
}

impl Assessment {
    /// Whether a learner may see per-question points and feedback now.
    pub fn shows_feedback(&self, now: NaiveDateTime) -> bool {
        match self.feedback {
            FeedbackPolicy::None => false,
            FeedbackPolicy::AfterSubmit => true,
            FeedbackPolicy::AfterClose => self.close_at.is_some_and(|close| now >= close),
        }
    }

    pub fn passes(&self, score: f64, max: f64) -> bool {
        max > 0.0 && score / max * 100.0 + 1e-9 >= self.pass_mark_percent
    }
}

/// The assessment's result in percent from the graded attempts (score, max) in attempt order.
pub fn result_percent(scoring: Scoring, graded: &[(f64, f64)]) -> f64 {
    let percent = |(score, max): &(f64, f64)| if *max > 0.0 { score / max * 100.0 } else { 0.0 };
    let percents: Vec<f64> = graded.iter().map(percent).collect();
    let value = match scoring {
        Scoring::Highest => percents.iter().copied().fold(0.0, f64::max),
        Scoring::Average if percents.is_empty() => 0.0,
        Scoring::Average => percents.iter().sum::<f64>() / percents.len() as f64,
        Scoring::First => percents.first().copied().unwrap_or(0.0),
        Scoring::Latest => percents.last().copied().unwrap_or(0.0),
    };
    (value * 100.0).round() / 100.0
}

/// A stored assessment with its revision and audit.
#[derive(Debug, Clone)]
pub struct StoredAssessment {
    pub assessment: Assessment,
    pub revision: i64,
    pub audit: Audit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scoring_rule_picks_its_attempt() {
        let graded = [(5.0, 10.0), (9.0, 10.0), (7.0, 10.0)];
        assert_eq!(result_percent(Scoring::Highest, &graded), 90.0);
        assert_eq!(result_percent(Scoring::Average, &graded), 70.0);
        assert_eq!(result_percent(Scoring::First, &graded), 50.0);
        assert_eq!(result_percent(Scoring::Latest, &graded), 70.0);
        assert_eq!(result_percent(Scoring::Average, &[]), 0.0);
    }
}
