//! Attempts: the questions as served (shuffled, with their keys kept server-side), answers, and
//! the grading of a whole attempt.

use lms_platform::ids::PathwayId;
use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::question::{Answer, Grade, Kind, Question};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    AwaitingGrading,
    Graded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "IN_PROGRESS",
            Status::AwaitingGrading => "AWAITING_GRADING",
            Status::Graded => "GRADED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "IN_PROGRESS" => Some(Status::InProgress),
            "AWAITING_GRADING" => Some(Status::AwaitingGrading),
            "GRADED" => Some(Status::Graded),
            _ => None,
        }
    }
}

/// A question as served in one attempt: the full question (for grading) and the order in which
/// its options, items or match answers were shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Served {
    pub question: Question,
    /// Option or item ids in display order (choice and ordering questions).
    pub option_order: Vec<String>,
    /// Match answers in display order (matching questions).
    pub match_answers: Vec<String>,
}

/// Serves `questions`, shuffling their order and options as asked.
pub fn serve(
    mut questions: Vec<Question>,
    shuffle_questions: bool,
    shuffle_options: bool,
) -> Vec<Served> {
    let mut rng = rand::rng();
    if shuffle_questions {
        questions.shuffle(&mut rng);
    }
    questions
        .into_iter()
        .map(|question| {
            let (mut option_order, mut match_answers) = match &question.kind {
                Kind::SingleChoice { choices } | Kind::MultipleChoice { choices } => {
                    (choices.iter().map(|c| c.id.clone()).collect(), Vec::new())
                }
                Kind::Ordering { items } => {
                    (items.iter().map(|c| c.id.clone()).collect(), Vec::new())
                }
                Kind::Matching { pairs } => {
                    let mut answers: Vec<String> = pairs.iter().map(|p| p.answer.clone()).collect();
                    answers.sort();
                    answers.dedup();
                    (Vec::new(), answers)
                }
                _ => (Vec::new(), Vec::new()),
            };
            let is_ordering = matches!(question.kind, Kind::Ordering { .. });
            // Ordering items are always shuffled: in stored order they would be the answer.
            if shuffle_options || is_ordering {
                option_order.shuffle(&mut rng);
            }
            if shuffle_options {
                match_answers.shuffle(&mut rng);
            }
            Served {
                question,
                option_order,
                match_answers,
            }
        })
        .collect()
}

/// A saved answer and when it was saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub answer: Answer,
    pub saved_at: NaiveDateTime,
}

/// One question's grade within an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionGrade {
    pub points: f64,
    pub max_points: f64,
    /// An essay waiting for an instructor.
    pub pending: bool,
    pub feedback: String,
}

/// Grades every served question on the saved answers; essays come back pending.
pub fn grade(
    served: &[Served],
    answers: &BTreeMap<String, Saved>,
) -> BTreeMap<String, QuestionGrade> {
    served
        .iter()
        .map(|s| {
            let q = &s.question;
            let answer = answers.get(&q.id).map(|saved| &saved.answer);
            let grade = match q.grade(answer) {
                Grade::Scored { points, feedback } => QuestionGrade {
                    points,
                    max_points: q.points,
                    pending: false,
                    feedback: join_feedback(&feedback, &q.general_feedback),
                },
                Grade::Pending => QuestionGrade {
                    points: 0.0,
                    max_points: q.points,
                    pending: true,
                    feedback: q.general_feedback.clone(),
                },
            };
            (q.id.clone(), grade)
        })
        .collect()
}

fn join_feedback(specific: &str, general: &str) -> String {
    match (specific.is_empty(), general.is_empty()) {
        (true, _) => general.to_string(),
        (false, true) => specific.to_string(),
        (false, false) => format!("{specific} {general}"),
    }
}

/// (score, max) of an attempt's grades, rounded to thousandths.
pub fn totals(grades: &BTreeMap<String, QuestionGrade>) -> (f64, f64) {
    let score: f64 = grades.values().map(|g| g.points).sum();
    let max: f64 = grades.values().map(|g| g.max_points).sum();
    (
        (score * 1000.0).round() / 1000.0,
        (max * 1000.0).round() / 1000.0,
    )
}

/// An attempt as kept: what was served, answered and graded.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub id: String,
    pub assessment_id: String,
    pub learner: String,
    pub number: i32,
    pub status: Status,
    pub started_at: NaiveDateTime,
    pub deadline: Option<NaiveDateTime>,
    pub submitted_at: Option<NaiveDateTime>,
    pub served: Vec<Served>,
    pub answers: BTreeMap<String, Saved>,
    pub grades: BTreeMap<String, QuestionGrade>,
    pub score: f64,
    pub max_score: f64,
    pub passed: bool,
    pub revision: i64,
}

/// An attempt's final result, as records-service learns it (the assessment outcome).
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    pub attempt_id: String,
    pub assessment_id: String,
    pub pathway_id: PathwayId,
    pub step_id: String,
    pub learner: String,
    pub attempt_number: i32,
    /// The assessment's attempt limit when graded (0: unlimited).
    pub max_attempts: i32,
    pub score: f64,
    pub max_score: f64,
    pub passed: bool,
    /// The assessment's result after this attempt, by its scoring rule.
    pub result_percent: f64,
    pub result_passed: bool,
    pub graded_at: NaiveDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::question::Choice;

    fn choice(id: &str, weight: f64) -> Choice {
        Choice {
            id: id.into(),
            text: id.to_uppercase(),
            weight,
            feedback: String::new(),
        }
    }

    fn question(id: &str, kind: Kind) -> Question {
        Question {
            id: id.into(),
            title: String::new(),
            text: "?".into(),
            points: 2.0,
            tags: vec![],
            general_feedback: String::new(),
            kind,
        }
    }

    #[test]
    fn ordering_items_are_never_served_in_answer_order_by_default() {
        let items: Vec<Choice> = (0..8).map(|i| choice(&format!("i{i}"), 0.0)).collect();
        let stored: Vec<String> = items.iter().map(|c| c.id.clone()).collect();
        // Shuffled every time: over 20 servings at least one differs from the stored order.
        let differs = (0..20).any(|_| {
            serve(
                vec![question(
                    "q",
                    Kind::Ordering {
                        items: items.clone(),
                    },
                )],
                false,
                false,
            )[0]
            .option_order
                != stored
        });
        assert!(differs);
    }

    #[test]
    fn an_attempt_totals_its_questions_and_leaves_essays_pending() {
        let served = serve(
            vec![
                question(
                    "a",
                    Kind::SingleChoice {
                        choices: vec![choice("x", 1.0), choice("y", 0.0)],
                    },
                ),
                question("b", Kind::Essay),
            ],
            false,
            false,
        );
        let now = chrono::Utc::now().naive_utc();
        let mut answers: BTreeMap<String, Saved> = [(
            "a".to_string(),
            Saved {
                answer: Answer::Choices {
                    ids: vec!["x".into()],
                },
                saved_at: now,
            },
        )]
        .into();
        // An unanswered essay has nothing to grade: it is worth nothing, not pending.
        assert!(!grade(&served, &answers)["b"].pending);
        answers.insert(
            "b".into(),
            Saved {
                answer: Answer::Text {
                    text: "My view".into(),
                },
                saved_at: now,
            },
        );
        let grades = grade(&served, &answers);
        assert_eq!(grades["a"].points, 2.0);
        assert!(grades["b"].pending);
        assert_eq!(totals(&grades), (2.0, 4.0));
    }
}
