//! Conversions between the wire messages and the domain, with field-level validation. Served
//! questions are built here from the attempt's snapshot, leaving every answer key out.

use std::collections::BTreeMap;

use lms_platform::resource::{etag, from_timestamp, timestamp};
use lms_platform::validate::Violations;
use lms_platform::{AppError, AppResult};
use lms_proto::assessment_v1 as pb;

use crate::app::{AttemptView, BankView, PendingGrade};
use crate::domain::assessment::{
    Assessment, FeedbackPolicy, MAX_QUESTIONS, NewAssessmentStep, QuestionSource, Scoring,
    StoredAssessment,
};
use crate::domain::attempt::Status;
use crate::domain::bank::StoredQuestion;
use crate::domain::question::{self, Answer, Choice, Kind, Pair, Question};

pub fn bank(view: BankView) -> pb::QuestionBank {
    let b = view.bank;
    pb::QuestionBank {
        etag: etag(b.revision),
        audit: Some(b.audit.to_proto()),
        id: b.id,
        name: b.name,
        description: b.description,
        question_count: view.questions as i32,
    }
}

fn choice_to_wire(c: Choice) -> pb::Choice {
    pb::Choice {
        id: c.id,
        text: c.text,
        weight: c.weight,
        feedback: c.feedback,
    }
}

fn choice_from_wire(c: pb::Choice) -> Choice {
    Choice {
        id: c.id.trim().to_string(),
        text: c.text.trim().to_string(),
        weight: c.weight,
        feedback: c.feedback,
    }
}

pub fn question(stored: StoredQuestion) -> pb::Question {
    use pb::question::Kind as W;
    let q = stored.question;
    let kind = match q.kind {
        Kind::SingleChoice { choices } => W::SingleChoice(pb::SingleChoice {
            choices: choices.into_iter().map(choice_to_wire).collect(),
        }),
        Kind::MultipleChoice { choices } => W::MultipleChoice(pb::MultipleChoice {
            choices: choices.into_iter().map(choice_to_wire).collect(),
        }),
        Kind::TrueFalse {
            answer,
            feedback_true,
            feedback_false,
        } => W::TrueFalse(pb::TrueFalse {
            answer,
            feedback_true,
            feedback_false,
        }),
        Kind::ShortText {
            accepted,
            case_sensitive,
        } => W::ShortText(pb::ShortText {
            accepted,
            case_sensitive,
        }),
        Kind::Numeric { value, tolerance } => W::Numeric(pb::Numeric { value, tolerance }),
        Kind::Matching { pairs } => W::Matching(pb::Matching {
            pairs: pairs
                .into_iter()
                .map(|p| pb::Pair {
                    id: p.id,
                    prompt: p.prompt,
                    answer: p.answer,
                })
                .collect(),
        }),
        Kind::Ordering { items } => W::Ordering(pb::Ordering {
            items: items.into_iter().map(choice_to_wire).collect(),
        }),
        Kind::Essay => W::Essay(pb::Essay {}),
    };
    pb::Question {
        etag: etag(stored.revision),
        audit: Some(stored.audit.to_proto()),
        id: q.id,
        bank_id: stored.bank_id,
        title: q.title,
        text: q.text,
        points: q.points,
        tags: q.tags,
        general_feedback: q.general_feedback,
        kind: Some(kind),
    }
}

/// A question from the wire, validated (ids of options filled in).
pub fn question_from_wire(q: pb::Question, prefix: &str) -> AppResult<Question> {
    use pb::question::Kind as W;
    let mut v = Violations::new();
    let kind = match q.kind {
        None => {
            v.add(format!("{prefix}kind"), "is required: one of single_choice, multiple_choice, true_false, short_text, numeric, matching, ordering, essay");
            Kind::Essay
        }
        Some(W::SingleChoice(c)) => Kind::SingleChoice {
            choices: c.choices.into_iter().map(choice_from_wire).collect(),
        },
        Some(W::MultipleChoice(c)) => Kind::MultipleChoice {
            choices: c.choices.into_iter().map(choice_from_wire).collect(),
        },
        Some(W::TrueFalse(t)) => Kind::TrueFalse {
            answer: t.answer,
            feedback_true: t.feedback_true,
            feedback_false: t.feedback_false,
        },
        Some(W::ShortText(t)) => Kind::ShortText {
            accepted: t.accepted,
            case_sensitive: t.case_sensitive,
        },
        Some(W::Numeric(n)) => Kind::Numeric {
            value: n.value,
            tolerance: n.tolerance,
        },
        Some(W::Matching(m)) => Kind::Matching {
            pairs: m
                .pairs
                .into_iter()
                .map(|p| Pair {
                    id: p.id.trim().to_string(),
                    prompt: p.prompt.trim().to_string(),
                    answer: p.answer.trim().to_string(),
                })
                .collect(),
        },
        Some(W::Ordering(o)) => Kind::Ordering {
            items: o.items.into_iter().map(choice_from_wire).collect(),
        },
        Some(W::Essay(_)) => Kind::Essay,
    };
    let mut question = Question {
        id: q.id,
        title: q.title.trim().to_string(),
        text: q.text.trim().to_string(),
        points: if q.points == 0.0 { 1.0 } else { q.points },
        tags: q.tags.iter().map(|t| t.trim().to_string()).collect(),
        general_feedback: q.general_feedback,
        kind,
    };
    question::validate(&mut v, prefix, &mut question);
    v.finish()?;
    Ok(question)
}

pub fn assessment(stored: StoredAssessment) -> pb::Assessment {
    let a = stored.assessment;
    let questions = match a.questions {
        QuestionSource::Fixed { question_ids } => {
            pb::assessment::Questions::Fixed(pb::FixedQuestions { question_ids })
        }
        QuestionSource::Random {
            bank_id,
            tags,
            count,
        } => pb::assessment::Questions::Random(pb::RandomDraw {
            bank_id,
            tags,
            count: count as i32,
        }),
    };
    pb::Assessment {
        etag: etag(stored.revision),
        audit: Some(stored.audit.to_proto()),
        id: a.id,
        title: a.title,
        pathway_id: a.pathway_id.into(),
        step_id: a.step_id,
        questions: Some(questions),
        pass_mark_percent: a.pass_mark_percent,
        max_attempts: a.max_attempts,
        time_limit_seconds: a.time_limit_seconds,
        shuffle_questions: a.shuffle_questions,
        shuffle_options: a.shuffle_options,
        feedback_policy: match a.feedback {
            FeedbackPolicy::None => pb::FeedbackPolicy::NoFeedback,
            FeedbackPolicy::AfterSubmit => pb::FeedbackPolicy::AfterSubmit,
            FeedbackPolicy::AfterClose => pb::FeedbackPolicy::AfterClose,
        } as i32,
        scoring: match a.scoring {
            Scoring::Highest => pb::Scoring::Highest,
            Scoring::Average => pb::Scoring::Average,
            Scoring::First => pb::Scoring::First,
            Scoring::Latest => pb::Scoring::Latest,
        } as i32,
        close_time: a.close_at.map(timestamp),
        add_step: None,
    }
}

/// The step to add with a new assessment, validated like pathway-service's AddStep.
pub fn new_assessment_step(
    step: Option<&pb::NewAssessmentStep>,
) -> AppResult<Option<NewAssessmentStep>> {
    let Some(s) = step else {
        return Ok(None);
    };
    let mut v = Violations::new();
    v.required_text("assessment.add_step.title", &s.title, 200);
    v.max_text("assessment.add_step.description", &s.description, 10_000);
    v.in_range(
        "assessment.add_step.estimated_minutes",
        s.estimated_minutes.into(),
        0,
        100_000,
    );
    for (i, id) in s.prerequisite_step_ids.iter().enumerate() {
        v.id(
            &format!("assessment.add_step.prerequisite_step_ids[{i}]"),
            id,
        );
    }
    if s.position.is_some_and(|p| p < 0) {
        v.add("assessment.add_step.position", "must not be negative");
    }
    v.finish()?;
    Ok(Some(NewAssessmentStep {
        title: s.title.trim().to_string(),
        description: s.description.clone(),
        required: s.required,
        prerequisite_step_ids: s.prerequisite_step_ids.clone(),
        position: s.position,
        estimated_minutes: s.estimated_minutes,
    }))
}

pub fn new_assessment(req: pb::CreateAssessmentRequest) -> AppResult<(Assessment, Option<String>)> {
    let Some(a) = req.assessment else {
        return Err(AppError::invalid_field("assessment", "is required"));
    };
    let mut v = Violations::new();
    let request_id = v
        .optional_id("request_id", &req.request_id)
        .map(|id| id.to_string());
    v.required_text("assessment.title", &a.title, 200);
    v.id("assessment.pathway_id", &a.pathway_id);
    v.optional_id("assessment.step_id", &a.step_id);
    let questions = match a.questions {
        Some(pb::assessment::Questions::Fixed(f)) => {
            if f.question_ids.is_empty() || f.question_ids.len() > MAX_QUESTIONS {
                v.add(
                    "assessment.fixed.question_ids",
                    format!("needs 1..{MAX_QUESTIONS} questions"),
                );
            }
            for (i, id) in f.question_ids.iter().enumerate() {
                v.id(&format!("assessment.fixed.question_ids[{i}]"), id);
            }
            QuestionSource::Fixed {
                question_ids: f.question_ids,
            }
        }
        Some(pb::assessment::Questions::Random(r)) => {
            v.id("assessment.random.bank_id", &r.bank_id);
            if !(1..=MAX_QUESTIONS as i32).contains(&r.count) {
                v.add(
                    "assessment.random.count",
                    format!("must be 1..{MAX_QUESTIONS}"),
                );
            }
            QuestionSource::Random {
                bank_id: r.bank_id,
                tags: r.tags,
                count: r.count.max(0) as usize,
            }
        }
        None => {
            v.add("assessment.fixed", "set fixed questions or a random draw");
            QuestionSource::Fixed {
                question_ids: vec![],
            }
        }
    };
    if !(0.0..=100.0).contains(&a.pass_mark_percent) {
        v.add("assessment.pass_mark_percent", "must be 0..100");
    }
    if a.max_attempts < 0 {
        v.add("assessment.max_attempts", "must be 0 (unlimited) or more");
    }
    if !(0..=7 * 24 * 3600).contains(&a.time_limit_seconds) {
        v.add(
            "assessment.time_limit_seconds",
            "must be 0 (none) to a week",
        );
    }
    let feedback = match pb::FeedbackPolicy::try_from(a.feedback_policy) {
        Ok(pb::FeedbackPolicy::Unspecified | pb::FeedbackPolicy::AfterSubmit) => {
            FeedbackPolicy::AfterSubmit
        }
        Ok(pb::FeedbackPolicy::NoFeedback) => FeedbackPolicy::None,
        Ok(pb::FeedbackPolicy::AfterClose) => FeedbackPolicy::AfterClose,
        Err(_) => {
            v.add("assessment.feedback_policy", "unknown policy");
            FeedbackPolicy::AfterSubmit
        }
    };
    let scoring = match pb::Scoring::try_from(a.scoring) {
        Ok(pb::Scoring::Unspecified | pb::Scoring::Highest) => Scoring::Highest,
        Ok(pb::Scoring::Average) => Scoring::Average,
        Ok(pb::Scoring::First) => Scoring::First,
        Ok(pb::Scoring::Latest) => Scoring::Latest,
        Err(_) => {
            v.add("assessment.scoring", "unknown scoring rule");
            Scoring::Highest
        }
    };
    let close_at = a.close_time.as_ref().and_then(from_timestamp);
    if feedback == FeedbackPolicy::AfterClose && close_at.is_none() {
        v.add(
            "assessment.close_time",
            "is required for AFTER_CLOSE feedback",
        );
    }
    v.finish()?;
    Ok((
        Assessment {
            id: String::new(),
            title: a.title.trim().to_string(),
            pathway_id: a.pathway_id.into(),
            step_id: a.step_id,
            questions,
            pass_mark_percent: a.pass_mark_percent,
            max_attempts: a.max_attempts,
            time_limit_seconds: a.time_limit_seconds,
            shuffle_questions: a.shuffle_questions,
            shuffle_options: a.shuffle_options,
            feedback,
            scoring,
            close_at,
        },
        request_id,
    ))
}

/// Answers from the wire; a malformed one is INVALID_ARGUMENT naming its index.
pub fn answers(list: Vec<pb::QuestionAnswer>) -> AppResult<Vec<(String, Answer)>> {
    use pb::answer_value::Value;
    let mut v = Violations::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, qa) in list.into_iter().enumerate() {
        let answer = match qa.answer.and_then(|a| a.value) {
            None => {
                v.add(format!("answers[{i}].answer"), "is required");
                continue;
            }
            Some(Value::Choices(ids)) => Answer::Choices { ids: ids.ids },
            Some(Value::TrueFalse(value)) => Answer::TrueFalse { value },
            Some(Value::Text(text)) => Answer::Text { text },
            Some(Value::Number(value)) => Answer::Number { value },
            Some(Value::Matches(m)) => Answer::Matches {
                pairs: m
                    .pairs
                    .into_iter()
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            },
            Some(Value::Order(ids)) => Answer::Order { ids: ids.ids },
        };
        out.push((qa.question_id, answer));
    }
    v.finish()?;
    Ok(out)
}

fn answer_to_wire(answer: &Answer) -> pb::AnswerValue {
    use pb::answer_value::{Matches, OptionIds, Value};
    let value = match answer {
        Answer::Choices { ids } => Value::Choices(OptionIds { ids: ids.clone() }),
        Answer::TrueFalse { value } => Value::TrueFalse(*value),
        Answer::Text { text } => Value::Text(text.clone()),
        Answer::Number { value } => Value::Number(*value),
        Answer::Matches { pairs } => Value::Matches(Matches {
            pairs: pairs.iter().cloned().collect(),
        }),
        Answer::Order { ids } => Value::Order(OptionIds { ids: ids.clone() }),
    };
    pb::AnswerValue { value: Some(value) }
}

/// The question as a learner sees it: texts and ids only — no weights, accepted answers, right
/// pairs or order, and no feedback.
fn served_question(served: &crate::domain::attempt::Served) -> pb::ServedQuestion {
    let q = &served.question;
    let text_of = |options: &[Choice], id: &str| {
        options
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.text.clone())
            .unwrap_or_default()
    };
    let (options, prompts) = match &q.kind {
        Kind::SingleChoice { choices } | Kind::MultipleChoice { choices } => (
            served
                .option_order
                .iter()
                .map(|id| pb::ServedOption {
                    id: id.clone(),
                    text: text_of(choices, id),
                })
                .collect(),
            Vec::new(),
        ),
        Kind::Ordering { items } => (
            served
                .option_order
                .iter()
                .map(|id| pb::ServedOption {
                    id: id.clone(),
                    text: text_of(items, id),
                })
                .collect(),
            Vec::new(),
        ),
        Kind::Matching { pairs } => (
            Vec::new(),
            pairs
                .iter()
                .map(|p| pb::ServedOption {
                    id: p.id.clone(),
                    text: p.prompt.clone(),
                })
                .collect(),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    pb::ServedQuestion {
        question_id: q.id.clone(),
        title: q.title.clone(),
        text: q.text.clone(),
        points: q.points,
        kind: q.kind.name().to_string(),
        options,
        prompts,
        match_answers: served.match_answers.clone(),
    }
}

pub fn attempt(view: AttemptView) -> pb::Attempt {
    let a = view.attempt;
    let graded = a.status == Status::Graded;
    let results = if view.show_results {
        a.served
            .iter()
            .filter_map(|s| {
                a.grades.get(&s.question.id).map(|g| pb::QuestionResult {
                    question_id: s.question.id.clone(),
                    points: g.points,
                    max_points: g.max_points,
                    pending: g.pending,
                    feedback: g.feedback.clone(),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    pb::Attempt {
        id: a.id.clone(),
        assessment_id: a.assessment_id.clone(),
        learner: a.learner.clone(),
        number: a.number,
        status: match a.status {
            Status::InProgress => pb::AttemptStatus::InProgress,
            Status::AwaitingGrading => pb::AttemptStatus::AwaitingGrading,
            Status::Graded => pb::AttemptStatus::Graded,
        } as i32,
        start_time: Some(timestamp(a.started_at)),
        deadline: a.deadline.map(timestamp),
        submit_time: a.submitted_at.map(timestamp),
        questions: a.served.iter().map(served_question).collect(),
        answers: a
            .served
            .iter()
            .filter_map(|s| {
                a.answers
                    .get(&s.question.id)
                    .map(|saved| pb::QuestionAnswer {
                        question_id: s.question.id.clone(),
                        answer: Some(answer_to_wire(&saved.answer)),
                    })
            })
            .collect(),
        score: if graded { a.score } else { 0.0 },
        max_score: a.max_score,
        passed: graded && a.passed,
        results,
    }
}

pub fn pending_grade(p: PendingGrade) -> pb::PendingGrade {
    pb::PendingGrade {
        attempt_id: p.attempt.id,
        assessment_id: p.attempt.assessment_id,
        learner: p.attempt.learner,
        question_id: p.question_id,
        question_text: p.question_text,
        answer_text: p.answer_text,
        max_points: p.max_points,
        submit_time: p.attempt.submitted_at.map(timestamp),
    }
}
