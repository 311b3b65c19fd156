//! Questions and how each kind is graded. Pure: no storage, no transport.
//!
//! Scores are fractions of the question's points in 0..=1 (negative weights never take a
//! question below zero).

use serde::{Deserialize, Serialize};

pub const MAX_TEXT_CHARS: usize = 10_000;
pub const MAX_OPTIONS: usize = 50;

/// One choice of a choice question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Stable within the question ("a", "b", ... or a UUID); what learners answer with.
    pub id: String,
    pub text: String,
    /// Single choice: exactly one option is correct (weight 1.0). Multiple choice: the share of
    /// the points this option is worth when selected, in -1.0..=1.0 (GIFT's `~%50%`).
    pub weight: f64,
    /// Shown after grading when this option was chosen.
    pub feedback: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub id: String,
    pub prompt: String,
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    SingleChoice {
        choices: Vec<Choice>,
    },
    /// Partial credit: the sum of the weights of the selected options, clamped to 0..=1.
    MultipleChoice {
        choices: Vec<Choice>,
    },
    TrueFalse {
        answer: bool,
        feedback_true: String,
        feedback_false: String,
    },
    /// Any accepted answer is right. Compared after trimming and collapsing inner whitespace;
    /// ignoring case unless `case_sensitive`.
    ShortText {
        accepted: Vec<String>,
        case_sensitive: bool,
    },
    /// Right when |answer - value| <= tolerance.
    Numeric {
        value: f64,
        tolerance: f64,
    },
    /// Each prompt matched to its answer earns an equal share.
    Matching {
        pairs: Vec<Pair>,
    },
    /// Items in order (the stored order is the right one); each item in its right position
    /// earns an equal share.
    Ordering {
        items: Vec<Choice>,
    },
    /// Graded by an instructor.
    Essay,
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::SingleChoice { .. } => "single_choice",
            Kind::MultipleChoice { .. } => "multiple_choice",
            Kind::TrueFalse { .. } => "true_false",
            Kind::ShortText { .. } => "short_text",
            Kind::Numeric { .. } => "numeric",
            Kind::Matching { .. } => "matching",
            Kind::Ordering { .. } => "ordering",
            Kind::Essay => "essay",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    /// A short name (GIFT's `::title::`); may be empty.
    pub title: String,
    pub text: String,
    pub points: f64,
    pub tags: Vec<String>,
    /// Shown to everyone after grading.
    pub general_feedback: String,
    pub kind: Kind,
}

/// A learner's answer to one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// Single or multiple choice: the chosen option ids.
    Choices {
        ids: Vec<String>,
    },
    TrueFalse {
        value: bool,
    },
    Text {
        text: String,
    },
    Number {
        value: f64,
    },
    /// Matching: prompt (pair) id → chosen answer text.
    Matches {
        pairs: Vec<(String, String)>,
    },
    /// Ordering: item ids in the learner's order.
    Order {
        ids: Vec<String>,
    },
}

/// The outcome of grading one answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Grade {
    /// Points earned, out of the question's points.
    Scored { points: f64, feedback: String },
    /// Waits for an instructor (essays).
    Pending,
}

/// Why an answer cannot be taken for a question (reported as a field violation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerError(pub String);

fn normalise(text: &str, case_sensitive: bool) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if case_sensitive {
        collapsed
    } else {
        collapsed.to_lowercase()
    }
}

impl Question {
    /// Checks that `answer` has the shape this question takes (known option ids, a number for
    /// a numeric question, ...), before it is saved.
    pub fn check_answer(&self, answer: &Answer) -> Result<(), AnswerError> {
        let known = |ids: &[String], options: &[Choice]| -> Result<(), AnswerError> {
            for id in ids {
                if !options.iter().any(|o| &o.id == id) {
                    return Err(AnswerError(format!(
                        "option {id:?} is not in this question"
                    )));
                }
            }
            Ok(())
        };
        match (&self.kind, answer) {
            (Kind::SingleChoice { choices }, Answer::Choices { ids }) => {
                if ids.len() > 1 {
                    return Err(AnswerError("choose one option".into()));
                }
                known(ids, choices)
            }
            (Kind::MultipleChoice { choices }, Answer::Choices { ids }) => known(ids, choices),
            (Kind::TrueFalse { .. }, Answer::TrueFalse { .. }) => Ok(()),
            (Kind::ShortText { .. } | Kind::Essay, Answer::Text { text }) => {
                if text.chars().count() > MAX_TEXT_CHARS {
                    Err(AnswerError(format!("at most {MAX_TEXT_CHARS} characters")))
                } else {
                    Ok(())
                }
            }
            (Kind::Numeric { .. }, Answer::Number { value }) => {
                if value.is_finite() {
                    Ok(())
                } else {
                    Err(AnswerError("not a number".into()))
                }
            }
            (Kind::Matching { pairs }, Answer::Matches { pairs: given }) => {
                for (id, _) in given {
                    if !pairs.iter().any(|p| &p.id == id) {
                        return Err(AnswerError(format!(
                            "prompt {id:?} is not in this question"
                        )));
                    }
                }
                Ok(())
            }
            (Kind::Ordering { items }, Answer::Order { ids }) => {
                known(ids, items)?;
                let mut sorted = ids.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != ids.len() {
                    return Err(AnswerError("an item appears twice".into()));
                }
                Ok(())
            }
            (kind, _) => Err(AnswerError(format!(
                "this is a {} question; that answer does not fit it",
                kind.name()
            ))),
        }
    }

    /// Grades an answer (None: unanswered, worth nothing).
    pub fn grade(&self, answer: Option<&Answer>) -> Grade {
        let scored = |fraction: f64, feedback: String| Grade::Scored {
            points: (fraction.clamp(0.0, 1.0) * self.points * 1000.0).round() / 1000.0,
            feedback,
        };
        // Unanswered is worth nothing, essays included: there is nothing to grade.
        let Some(answer) = answer else {
            return scored(0.0, String::new());
        };
        if self.check_answer(answer).is_err() {
            return scored(0.0, String::new());
        }
        match (&self.kind, answer) {
            (Kind::SingleChoice { choices }, Answer::Choices { ids }) => {
                let chosen = ids
                    .first()
                    .and_then(|id| choices.iter().find(|c| &c.id == id));
                match chosen {
                    Some(c) => scored(c.weight, c.feedback.clone()),
                    None => scored(0.0, String::new()),
                }
            }
            (Kind::MultipleChoice { choices }, Answer::Choices { ids }) => {
                let selected: Vec<&Choice> =
                    choices.iter().filter(|c| ids.contains(&c.id)).collect();
                let fraction: f64 = selected.iter().map(|c| c.weight).sum();
                let feedback = selected
                    .iter()
                    .map(|c| c.feedback.as_str())
                    .filter(|f| !f.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                scored(fraction, feedback)
            }
            (
                Kind::TrueFalse {
                    answer,
                    feedback_true,
                    feedback_false,
                },
                Answer::TrueFalse { value },
            ) => {
                let feedback = if *value {
                    feedback_true
                } else {
                    feedback_false
                };
                scored(if value == answer { 1.0 } else { 0.0 }, feedback.clone())
            }
            (
                Kind::ShortText {
                    accepted,
                    case_sensitive,
                },
                Answer::Text { text },
            ) => {
                let given = normalise(text, *case_sensitive);
                let right = accepted
                    .iter()
                    .any(|a| normalise(a, *case_sensitive) == given);
                scored(if right { 1.0 } else { 0.0 }, String::new())
            }
            (Kind::Numeric { value, tolerance }, Answer::Number { value: given }) => {
                let right = (given - value).abs() <= *tolerance + f64::EPSILON * value.abs();
                scored(if right { 1.0 } else { 0.0 }, String::new())
            }
            (Kind::Matching { pairs }, Answer::Matches { pairs: given }) => {
                if pairs.is_empty() {
                    return scored(0.0, String::new());
                }
                let right = pairs
                    .iter()
                    .filter(|p| {
                        given.iter().any(|(id, answer)| {
                            id == &p.id && normalise(answer, true) == normalise(&p.answer, true)
                        })
                    })
                    .count();
                scored(right as f64 / pairs.len() as f64, String::new())
            }
            (Kind::Ordering { items }, Answer::Order { ids }) => {
                if items.is_empty() {
                    return scored(0.0, String::new());
                }
                let right = items
                    .iter()
                    .enumerate()
                    .filter(|(i, item)| ids.get(*i) == Some(&item.id))
                    .count();
                scored(right as f64 / items.len() as f64, String::new())
            }
            (Kind::Essay, _) => Grade::Pending,
            _ => scored(0.0, String::new()),
        }
    }
}

/// Field checks on a question definition, reported under `prefix` (e.g. `question.`). Gives
/// options, items and pairs without ids the ids "a", "b", ... / "p1", "p2", ... first.
pub fn validate(v: &mut lms_platform::validate::Violations, prefix: &str, q: &mut Question) {
    let field = |name: &str| format!("{prefix}{name}");
    v.required_text(&field("text"), &q.text, MAX_TEXT_CHARS);
    v.max_text(&field("title"), &q.title, 200);
    v.max_text(
        &field("general_feedback"),
        &q.general_feedback,
        MAX_TEXT_CHARS,
    );
    if !(q.points > 0.0 && q.points <= 1000.0) {
        v.add(field("points"), "must be more than 0 and at most 1000");
    }
    if q.tags.len() > 20
        || q.tags
            .iter()
            .any(|t| t.trim().is_empty() || t.len() > 50 || t.contains(char::is_whitespace))
    {
        v.add(
            field("tags"),
            "at most 20 tags of 1..50 characters without spaces",
        );
    }
    fn fill_ids(options: &mut [Choice]) {
        for (i, option) in options.iter_mut().enumerate() {
            if option.id.is_empty() {
                option.id = letter_id(i);
            }
        }
    }
    fn unique(ids: impl Iterator<Item = String>) -> bool {
        let mut all: Vec<String> = ids.collect();
        let count = all.len();
        all.sort();
        all.dedup();
        all.len() == count
    }
    let mut check_options = |name: &str, options: &mut Vec<Choice>, min: usize| {
        fill_ids(options);
        if options.len() < min || options.len() > MAX_OPTIONS {
            v.add(field(name), format!("needs {min}..{MAX_OPTIONS} entries"));
        }
        if options.iter().any(|o| o.text.trim().is_empty()) {
            v.add(field(name), "every entry needs a text");
        }
        if !unique(options.iter().map(|o| o.id.clone())) {
            v.add(field(name), "ids must be unique");
        }
    };
    match &mut q.kind {
        Kind::SingleChoice { choices } => {
            check_options("single_choice.choices", choices, 2);
            let right = choices.iter().filter(|c| c.weight == 1.0).count();
            let other = choices
                .iter()
                .filter(|c| c.weight != 0.0 && c.weight != 1.0)
                .count();
            if right != 1 || other > 0 {
                v.add(
                    field("single_choice.choices"),
                    "exactly one choice has weight 1, the others 0",
                );
            }
        }
        Kind::MultipleChoice { choices } => {
            check_options("multiple_choice.choices", choices, 2);
            if choices.iter().any(|c| !(-1.0..=1.0).contains(&c.weight)) {
                v.add(
                    field("multiple_choice.choices"),
                    "weights are between -1 and 1",
                );
            }
            let positive: f64 = choices.iter().map(|c| c.weight.max(0.0)).sum();
            if (positive - 1.0).abs() > 0.01 {
                v.add(
                    field("multiple_choice.choices"),
                    format!(
                        "the positive weights add up to {:.0} %, not 100 %",
                        positive * 100.0
                    ),
                );
            }
        }
        Kind::Ordering { items } => check_options("ordering.items", items, 2),
        Kind::Matching { pairs } => {
            for (i, pair) in pairs.iter_mut().enumerate() {
                if pair.id.is_empty() {
                    pair.id = format!("p{}", i + 1);
                }
            }
            if pairs.len() < 2 || pairs.len() > MAX_OPTIONS {
                v.add(
                    field("matching.pairs"),
                    format!("needs 2..{MAX_OPTIONS} pairs"),
                );
            }
            if pairs
                .iter()
                .any(|p| p.prompt.trim().is_empty() || p.answer.trim().is_empty())
            {
                v.add(
                    field("matching.pairs"),
                    "every pair needs a prompt and an answer",
                );
            }
            if !unique(pairs.iter().map(|p| p.id.clone())) {
                v.add(field("matching.pairs"), "ids must be unique");
            }
        }
        Kind::ShortText { accepted, .. } => {
            if accepted.is_empty() || accepted.iter().any(|a| a.trim().is_empty()) {
                v.add(
                    field("short_text.accepted"),
                    "needs at least one non-empty accepted answer",
                );
            }
        }
        Kind::Numeric { value, tolerance } => {
            if !value.is_finite() || !tolerance.is_finite() || *tolerance < 0.0 {
                v.add(
                    field("numeric"),
                    "value must be a number and tolerance a number >= 0",
                );
            }
        }
        Kind::TrueFalse { .. } | Kind::Essay => {}
    }
}

/// "a", "b", ..., "z", "aa", "ab", ...
pub fn letter_id(index: usize) -> String {
    let mut n = index;
    let mut out = Vec::new();
    loop {
        out.push((b'a' + (n % 26) as u8) as char);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out.iter().rev().collect()
}

#[cfg(test)]
mod tests;
