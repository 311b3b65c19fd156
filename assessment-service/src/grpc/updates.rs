//! Updates of questions and assessments (AIP-134): the stored resource with the fields a mask
//! names taken from what the caller sent.

use lms_platform::AppResult;
use lms_platform::validate::Violations;
use lms_proto::assessment_v1 as pb;

const ASSESSMENT_PATHS: [&str; 11] = [
    "title",
    "step_id",
    "questions",
    "pass_mark_percent",
    "max_attempts",
    "time_limit_seconds",
    "shuffle_questions",
    "shuffle_options",
    "feedback_policy",
    "scoring",
    "close_time",
];

/// A question's updatable fields; each kind's name stands for the kind and its answer.
const QUESTION_PATHS: [&str; 13] = [
    "title",
    "text",
    "points",
    "tags",
    "general_feedback",
    "single_choice",
    "multiple_choice",
    "true_false",
    "short_text",
    "numeric",
    "matching",
    "ordering",
    "essay",
];

/// The stored question with the fields named in `mask` (AIP-134) taken from `sent`; the caller
/// validates the result as a whole.
pub fn merge_question(
    mut current: pb::Question,
    sent: pb::Question,
    mask: Option<prost_types::FieldMask>,
) -> AppResult<pb::Question> {
    let paths = lms_platform::field_mask::update_paths(mask.as_ref(), &sent, &QUESTION_PATHS)?;
    let mut v = Violations::new();
    for path in &paths {
        match path.as_str() {
            "title" => current.title = sent.title.clone(),
            "text" => current.text = sent.text.clone(),
            "points" => current.points = sent.points,
            "tags" => current.tags = sent.tags.clone(),
            "general_feedback" => current.general_feedback = sent.general_feedback.clone(),
            kind => match &sent.kind {
                Some(sent_kind) if question_kind_name(sent_kind) == kind => {
                    current.kind = sent.kind.clone()
                }
                // Another kind is sent: only the kind sent is replaced.
                Some(_) => {}
                None => v.add(
                    format!("question.{kind}"),
                    "is named in update_mask but not set",
                ),
            },
        }
    }
    v.finish()?;
    current.etag = sent.etag;
    Ok(current)
}

fn question_kind_name(kind: &pb::question::Kind) -> &'static str {
    use pb::question::Kind;
    match kind {
        Kind::SingleChoice(_) => "single_choice",
        Kind::MultipleChoice(_) => "multiple_choice",
        Kind::TrueFalse(_) => "true_false",
        Kind::ShortText(_) => "short_text",
        Kind::Numeric(_) => "numeric",
        Kind::Matching(_) => "matching",
        Kind::Ordering(_) => "ordering",
        Kind::Essay(_) => "essay",
    }
}

/// The stored assessment with the settings named in `mask` (AIP-134) taken from `sent`;
/// the caller validates the result as a whole, the way a create is validated.
pub fn merge_assessment(
    mut current: pb::Assessment,
    sent: &pb::Assessment,
    mask: Option<prost_types::FieldMask>,
) -> AppResult<pb::Assessment> {
    let paths = lms_platform::field_mask::update_paths(mask.as_ref(), sent, &ASSESSMENT_PATHS)?;
    let mut v = Violations::new();
    for path in &paths {
        match path.as_str() {
            "title" => current.title = sent.title.clone(),
            "step_id" => current.step_id = sent.step_id.clone(),
            "questions" => current.questions = sent.questions.clone(),
            "pass_mark_percent" => current.pass_mark_percent = sent.pass_mark_percent,
            "max_attempts" => current.max_attempts = sent.max_attempts,
            "time_limit_seconds" => current.time_limit_seconds = sent.time_limit_seconds,
            "shuffle_questions" => current.shuffle_questions = sent.shuffle_questions,
            "shuffle_options" => current.shuffle_options = sent.shuffle_options,
            "feedback_policy" => current.feedback_policy = sent.feedback_policy,
            "scoring" => current.scoring = sent.scoring,
            "close_time" => current.close_time = sent.close_time,
            other => v.add(
                "update_mask",
                format!(
                    "unknown or read-only path {other:?}; updatable: {}",
                    ASSESSMENT_PATHS.join(", ")
                ),
            ),
        }
    }
    v.finish()?;
    Ok(current)
}
