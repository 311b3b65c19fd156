//! Notification templates: MiniJinja (Jinja syntax) subjects and bodies, checked when saved —
//! a template that does not parse, or names a variable its kind does not have, is refused with
//! the line — and rendered with strict undefined variables, so nothing renders half-filled.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use super::kind::Kind;

/// A subject and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub subject: String,
    pub body: String,
}

pub const MAX_SUBJECT: usize = 500;
pub const MAX_BODY: usize = 20_000;

/// The template every tenant starts with (English).
pub fn shipped(kind: Kind) -> Text {
    let (subject, body) = match kind {
        Kind::Assigned => (
            "New training assigned: {{ pathway_title }}",
            "Hello {{ learner_name }},\n\n\
             “{{ pathway_title }}” has been assigned to you{% if mandatory %} and is mandatory{% endif %}.\n\
             {% if due_date %}Please complete it by {{ due_date }}.\n{% endif %}\n\
             Start here: {{ link }}\n",
        ),
        Kind::DueSoon => (
            "Due in {{ days_left }} day{% if days_left != 1 %}s{% endif %}: {{ pathway_title }}",
            "Hello {{ learner_name }},\n\n\
             “{{ pathway_title }}” is due on {{ due_date }}, in {{ days_left }} day{% if days_left != 1 %}s{% endif %}.\n\n\
             Continue here: {{ link }}\n",
        ),
        Kind::Overdue => (
            "Overdue: {{ pathway_title }}",
            "Hello {{ learner_name }},\n\n\
             “{{ pathway_title }}” was due on {{ due_date }} and is not completed yet.\n\n\
             Please complete it now: {{ link }}\n",
        ),
        Kind::Escalation => (
            "{{ learner_name }} is overdue: {{ pathway_title }}",
            "Hello {{ manager_name }},\n\n\
             {{ learner_name }} has not completed “{{ pathway_title }}”, due on {{ due_date }} \
             ({{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} ago).\n\n\
             Your team's learning: {{ portal_url }}\n",
        ),
        Kind::Completed => (
            "Completed: {{ pathway_title }}",
            "Well done, {{ learner_name }}!\n\n\
             You completed “{{ pathway_title }}” on {{ completed_date }}.\n\n\
             Your transcript: {{ portal_url }}\n",
        ),
        Kind::CertificationIssued => (
            "Your certification: {{ pathway_title }}",
            "Congratulations, {{ learner_name }}!\n\n\
             You are certified in “{{ pathway_title }}”{% if expire_date %} until {{ expire_date }}{% endif %}.\n\n\
             Your certificates: {{ portal_url }}\n",
        ),
        Kind::CertificationExpiring => (
            "Recertify: {{ pathway_title }}",
            "Hello {{ learner_name }},\n\n\
             Your certification in “{{ pathway_title }}” expires on {{ expire_date }}. \
             Recertification is open now: {{ link }}\n",
        ),
        Kind::CertificationExpired => (
            "Expired: your certification in {{ pathway_title }}",
            "Hello {{ learner_name }},\n\n\
             Your certification in “{{ pathway_title }}” expired on {{ expire_date }}. \
             Recertify here: {{ link }}\n",
        ),
        Kind::EssayGraded => (
            "Graded: {{ pathway_title }}",
            "Hello {{ learner_name }},\n\n\
             Your answers in “{{ pathway_title }}” have been graded on {{ grade_date }}: \
             {{ score }} of {{ max_score }} points, {% if passed %}passed{% else %}not passed \
             yet{% endif %}.\n\n\
             Your results and feedback: {{ link }}\n",
        ),
        Kind::SessionBooked => (
            "Booked: {{ session_title }}, {{ session_start }}",
            "Hello {{ learner_name }},\n\n\
             {% if promoted %}A seat came free and it is yours: {% else %}You are booked on {% endif %}\
             “{{ session_title }}” ({{ pathway_title }}), {{ session_start }} to {{ session_end }} \
             ({{ time_zone }}).\n\
             {% if location %}Where: {{ location }}\n{% endif %}\
             {% if meeting_url %}Join: {{ meeting_url }}\n{% endif %}\n\
             Your sessions and calendar: {{ portal_url }}\n",
        ),
        Kind::SessionWaitlisted => (
            "Waitlisted: {{ session_title }}, {{ session_start }}",
            "Hello {{ learner_name }},\n\n\
             “{{ session_title }}” ({{ pathway_title }}) on {{ session_start }} ({{ time_zone }}) is \
             full, so you are on its waitlist. If a seat comes free it goes to the first learner \
             waiting, and we will tell you.\n\n\
             Other sessions: {{ link }}\n",
        ),
        Kind::SessionChanged => (
            "Changed: {{ session_title }} is now {{ session_start }}",
            "Hello {{ learner_name }},\n\n\
             Your session “{{ session_title }}” ({{ pathway_title }}) has changed. It is now \
             {{ session_start }} to {{ session_end }} ({{ time_zone }}).\n\
             {% if location %}Where: {{ location }}\n{% endif %}\
             {% if meeting_url %}Join: {{ meeting_url }}\n{% endif %}\n\
             If you cannot make it, cancel your booking so someone else can have the seat: \
             {{ portal_url }}\n",
        ),
        Kind::SessionCancelled => (
            "Cancelled: {{ session_title }}, {{ session_start }}",
            "Hello {{ learner_name }},\n\n\
             The session “{{ session_title }}” ({{ pathway_title }}) on {{ session_start }} \
             ({{ time_zone }}) is cancelled: {{ reason }}\n\n\
             Please book another session: {{ link }}\n",
        ),
        Kind::SessionReminder => (
            "Coming up: {{ session_title }}, {{ session_start }}",
            "Hello {{ learner_name }},\n\n\
             A reminder: you are booked on “{{ session_title }}” ({{ pathway_title }}), \
             {{ session_start }} to {{ session_end }} ({{ time_zone }}).\n\
             {% if location %}Where: {{ location }}\n{% endif %}\
             {% if meeting_url %}Join: {{ meeting_url }}\n{% endif %}\n\
             If you cannot make it, cancel your booking so someone else can have the seat: \
             {{ portal_url }}\n",
        ),
        Kind::BookingCancelled => (
            "Booking cancelled: {{ session_title }}, {{ session_start }}",
            "Hello {{ learner_name }},\n\n\
             Your booking on “{{ session_title }}” ({{ pathway_title }}) on {{ session_start }} \
             ({{ time_zone }}) is cancelled{% if reason %}: {{ reason }}{% else %}.{% endif %}\n\n\
             Book another session: {{ link }}\n",
        ),
        Kind::WebhookDisabled => (
            "Webhook disabled: {{ webhook_url }}",
            "Hello {{ learner_name }},\n\n\
             The webhook to {{ webhook_url }} has been disabled because its deliveries kept \
             failing: {{ disabled_reason }}\n\n\
             Events are not sent to it until it is enabled again (UpdateWebhook, state WEBHOOK_STATE_ACTIVE); \
             its delivery log shows each attempt.\n",
        ),
    };
    Text {
        subject: subject.to_string(),
        body: body.to_string(),
    }
}

/// What is wrong with a template, by field (`subject` or `body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: &'static str,
    pub description: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Every problem of `text` as a template of `kind`: syntax errors (with their line) and
/// variables the kind does not have (with the first line naming them).
pub fn check(kind: Kind, text: &Text) -> Vec<Problem> {
    let env = environment();
    let allowed = kind.variables();
    let mut problems = Vec::new();
    for (field, source, max) in [
        ("subject", &text.subject, MAX_SUBJECT),
        ("body", &text.body, MAX_BODY),
    ] {
        if source.trim().is_empty() {
            problems.push(Problem {
                field,
                description: "must not be empty".into(),
            });
            continue;
        }
        if source.chars().count() > max {
            problems.push(Problem {
                field,
                description: format!("at most {max} characters"),
            });
            continue;
        }
        match env.template_from_str(source) {
            Err(error) => problems.push(Problem {
                field,
                description: format!(
                    "line {}: {}",
                    error.line().unwrap_or(1),
                    error.detail().unwrap_or("does not parse")
                ),
            }),
            Ok(template) => {
                let mut unknown: Vec<String> = template
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|name| !allowed.contains(&name.as_str()))
                    .collect();
                unknown.sort();
                for name in unknown {
                    problems.push(Problem {
                        field,
                        description: format!(
                            "line {}: unknown variable `{name}` ({} templates may use: {})",
                            line_naming(source, &name),
                            kind.as_str(),
                            allowed.join(", ")
                        ),
                    });
                }
            }
        }
    }
    problems
}

/// The first line where `name` appears as a word (1 when it cannot be found).
fn line_naming(source: &str, name: &str) -> usize {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    source
        .lines()
        .position(|line| {
            line.match_indices(name).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + name.len()..].chars().next();
                !before.is_some_and(is_word) && !after.is_some_and(is_word)
            })
        })
        .map_or(1, |index| index + 1)
}

/// Renders `text` with `values`; Err says why (a template checked when saved renders with the
/// values of its kind).
pub fn render(text: &Text, values: &Map<String, Value>) -> Result<Text, String> {
    let env = environment();
    let one = |source: &str| -> Result<String, String> {
        env.render_str(source, minijinja::value::Serde(values))
            .map_err(|error| match error.line() {
                Some(line) => format!("line {line}: {error}"),
                None => error.to_string(),
            })
    };
    Ok(Text {
        subject: one(&text.subject)?.trim().replace(['\r', '\n'], " "),
        body: one(&text.body)?,
    })
}

/// Values of every variable of `kind`, for previews.
pub fn example_values(kind: Kind, portal_url: &str) -> Map<String, Value> {
    let mut values = Map::new();
    for name in kind.variables() {
        let value = match name {
            "learner_name" => Value::from("Ada Lovelace"),
            "manager_name" => Value::from("Grace Hopper"),
            "pathway_title" => Value::from("Fire safety"),
            "link" => Value::from(format!(
                "{portal_url}/pathways/0190d5a0-0000-7000-8000-000000000001"
            )),
            "portal_url" => Value::from(portal_url),
            "mandatory" => Value::from(true),
            "days_left" => Value::from(7),
            "days_overdue" => Value::from(3),
            "webhook_url" => Value::from("https://hr.example/lms-events"),
            "score" => Value::from(15.5),
            "max_score" => Value::from(16.0),
            "passed" => Value::from(true),
            "disabled_reason" => Value::from("HTTP 503 for 8 attempts over 27 hours"),
            "session_title" => Value::from("Practical"),
            "session_start" => Value::from("Tue 1 Dec 2026, 09:00"),
            "session_end" => Value::from("Tue 1 Dec 2026, 12:00"),
            "time_zone" => Value::from("Europe/London"),
            "location" => Value::from("Depot, Bay 3"),
            "meeting_url" => Value::from("https://meet.example.com/forklift"),
            "promoted" => Value::from(false),
            "reason" => Value::from("The trainer is ill."),
            _ => Value::from("2026-03-20"),
        };
        values.insert(name.to_string(), value);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_passes_its_own_check_and_renders() {
        for kind in Kind::ALL {
            let text = shipped(*kind);
            assert_eq!(check(*kind, &text), [], "{kind:?}");
            let rendered = render(&text, &example_values(*kind, "https://lms.example")).unwrap();
            // Each subject names what it is about: the pathway, the session, or the webhook.
            let about = if *kind == Kind::WebhookDisabled {
                "hr.example"
            } else if kind.variables().contains(&"session_title") {
                "Practical"
            } else {
                "Fire safety"
            };
            assert!(rendered.subject.contains(about), "{kind:?}: {rendered:?}");
            assert!(!rendered.body.contains("{{"), "{kind:?}");
        }
    }

    #[test]
    fn a_template_that_does_not_parse_is_refused_with_its_line() {
        let text = Text {
            subject: "Hello".into(),
            body: "line one\nline two {% if %}\n".into(),
        };
        let problems = check(Kind::Assigned, &text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "body");
        assert!(
            problems[0].description.starts_with("line 2:"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_unknown_variable_is_refused_with_its_line_and_the_allowed_ones() {
        let text = Text {
            subject: "Due {{ due_date }}".into(),
            body: "Hi\n{{ learner_name }}\n{{ salary }}".into(),
        };
        let problems = check(Kind::Assigned, &text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .description
                .starts_with("line 3: unknown variable `salary`"),
            "{problems:?}"
        );
        assert!(problems[0].description.contains("learner_name"));
        // days_left belongs to due-soon reminders, not to assignments.
        let wrong_kind = Text {
            subject: "{{ days_left }}".into(),
            body: "x".into(),
        };
        assert_eq!(check(Kind::Assigned, &wrong_kind).len(), 1);
        assert_eq!(check(Kind::DueSoon, &wrong_kind), []);
    }

    #[test]
    fn rendering_never_leaves_a_variable_half_filled() {
        let text = Text {
            subject: "{{ missing }}".into(),
            body: String::new(),
        };
        assert!(render(&text, &Map::new()).is_err());
    }
}
