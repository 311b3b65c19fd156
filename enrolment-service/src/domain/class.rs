//! Academic classes: a cohort with students and instructors, a term and dates.

use chrono::NaiveDate;
use lms_platform::resource::Audit;
use lms_platform::validate::Violations;

pub const MAX_CODE_CHARS: usize = 64;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TERM_CHARS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ClassRole {
    Student,
    Instructor,
}

impl ClassRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassRole::Student => "STUDENT",
            ClassRole::Instructor => "INSTRUCTOR",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "STUDENT" => Some(ClassRole::Student),
            "INSTRUCTOR" => Some(ClassRole::Instructor),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AcademicClass {
    pub id: String,
    pub code: String,
    pub name: String,
    pub term: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub revision: i64,
    pub audit: Audit,
}

/// Field checks on a class, reported under `prefix` (e.g. `class.`).
pub fn validate(v: &mut Violations, prefix: &str, class: &AcademicClass) {
    v.required_text(&format!("{prefix}code"), &class.code, MAX_CODE_CHARS);
    v.required_text(&format!("{prefix}name"), &class.name, MAX_NAME_CHARS);
    v.max_text(&format!("{prefix}term"), &class.term, MAX_TERM_CHARS);
    if class.end_date < class.start_date {
        v.add(
            format!("{prefix}end_date"),
            format!(
                "{} is before start_date {}",
                class.end_date, class.start_date
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_cannot_end_before_it_starts() {
        let class = AcademicClass {
            id: String::new(),
            code: "CS101".into(),
            name: "Programming".into(),
            term: "2026-S1".into(),
            start_date: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
            end_date: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
            revision: 1,
            audit: Audit::new("t"),
        };
        let mut v = Violations::new();
        validate(&mut v, "class.", &class);
        assert!(
            v.finish()
                .unwrap_err()
                .to_string()
                .contains("class.end_date")
        );
    }
}
