//! The audience rule language: who belongs to a dynamic target audience.
//!
//! ```text
//! department = "Sales" AND (location IN ("ZA", "UK") OR job_title ~ "Manager")
//!   AND hire_date >= now() - 90d
//! ```
//!
//! Grammar (keywords are case-insensitive):
//!
//! ```text
//! rule       := or
//! or         := and ( "OR" and )*
//! and        := unary ( "AND" unary )*
//! unary      := "NOT" unary | "(" rule ")" | comparison
//! comparison := attribute "=" value | attribute "!=" value
//!             | attribute "~" string                    -- contains
//!             | attribute ["NOT"] "IN" "(" value ("," value)* ")"
//!             | date_attribute ("<" | "<=" | ">" | ">=" | "=" | "!=") date
//! attribute  := external_id | email | name | status | department | job_title | location
//!             | manager | hire_date | attr.<key>            -- a custom attribute
//! value      := "text"                                     -- with \" and \\ escapes
//! date       := "YYYY-MM-DD" | now() [ ("+" | "-") <n>d | <n>w ]
//! ```
//!
//! Text comparisons ignore case and surrounding whitespace, the way HR data is typed. A person
//! without a value for an attribute matches no comparison on it except `!=` and `NOT IN`.
//! Errors carry the 1-based line and column of the offending token.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Days, NaiveDate};

/// Longest rule accepted, in characters.
pub const MAX_RULE_CHARS: usize = 4_000;
/// Deepest nesting of parentheses and NOTs accepted (keeps the recursive parser safe).
pub const MAX_DEPTH: usize = 32;

/// The attributes a rule can name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attribute {
    ExternalId,
    Email,
    Name,
    Status,
    Department,
    JobTitle,
    Location,
    Manager,
    HireDate,
    /// `attr.<key>`: a custom key/value from the HR feed.
    Custom(String),
}

impl Attribute {
    fn parse(name: &str) -> Option<Attribute> {
        let lower = name.to_ascii_lowercase();
        Some(match lower.as_str() {
            "external_id" => Attribute::ExternalId,
            "email" => Attribute::Email,
            "name" => Attribute::Name,
            "status" => Attribute::Status,
            "department" => Attribute::Department,
            "job_title" => Attribute::JobTitle,
            "location" => Attribute::Location,
            "manager" => Attribute::Manager,
            "hire_date" => Attribute::HireDate,
            _ => {
                let key = name.strip_prefix("attr.")?;
                if key.is_empty() || key.len() > 64 {
                    return None;
                }
                Attribute::Custom(key.to_string())
            }
        })
    }

    pub fn is_date(&self) -> bool {
        matches!(self, Attribute::HireDate)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Attribute::ExternalId => "external_id",
            Attribute::Email => "email",
            Attribute::Name => "name",
            Attribute::Status => "status",
            Attribute::Department => "department",
            Attribute::JobTitle => "job_title",
            Attribute::Location => "location",
            Attribute::Manager => "manager",
            Attribute::HireDate => "hire_date",
            Attribute::Custom(key) => return write!(f, "attr.{key}"),
        };
        f.write_str(name)
    }
}

/// A date in a rule: fixed, or relative to the day the rule is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateValue {
    Fixed(NaiveDate),
    /// `now()` plus this many days (negative: in the past).
    FromToday(i64),
}

impl DateValue {
    pub fn resolve(self, today: NaiveDate) -> Option<NaiveDate> {
        match self {
            DateValue::Fixed(date) => Some(date),
            DateValue::FromToday(days) if days >= 0 => {
                today.checked_add_days(Days::new(days as u64))
            }
            DateValue::FromToday(days) => today.checked_sub_days(Days::new(days.unsigned_abs())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    And(Box<Rule>, Box<Rule>),
    Or(Box<Rule>, Box<Rule>),
    Not(Box<Rule>),
    /// Text equals one of the values (`=` is a one-value `IN`).
    In {
        attribute: Attribute,
        values: Vec<String>,
        negated: bool,
    },
    Contains {
        attribute: Attribute,
        text: String,
    },
    Date {
        attribute: Attribute,
        op: DateOp,
        value: DateValue,
    },
}

/// A rule that could not be read: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct RuleError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// What a rule is evaluated against: one person's attributes.
pub trait Subject {
    /// The attribute's text, if the person has one.
    fn text(&self, attribute: &Attribute) -> Option<&str>;
    /// The attribute's date (only `hire_date` is a date).
    fn date(&self, attribute: &Attribute) -> Option<NaiveDate>;
}

/// A plain map of attributes, for previews and tests.
#[derive(Debug, Default, Clone)]
pub struct Attributes {
    pub texts: BTreeMap<String, String>,
    pub hire_date: Option<NaiveDate>,
}

impl Subject for Attributes {
    fn text(&self, attribute: &Attribute) -> Option<&str> {
        self.texts.get(&attribute.to_string()).map(String::as_str)
    }

    fn date(&self, attribute: &Attribute) -> Option<NaiveDate> {
        attribute.is_date().then_some(self.hire_date).flatten()
    }
}

fn normalise(text: &str) -> String {
    text.trim().to_lowercase()
}

impl Rule {
    /// Whether `subject` matches on the day `today`.
    pub fn matches(&self, subject: &dyn Subject, today: NaiveDate) -> bool {
        match self {
            Rule::And(a, b) => a.matches(subject, today) && b.matches(subject, today),
            Rule::Or(a, b) => a.matches(subject, today) || b.matches(subject, today),
            Rule::Not(inner) => !inner.matches(subject, today),
            Rule::In {
                attribute,
                values,
                negated,
            } => {
                let found = subject
                    .text(attribute)
                    .map(normalise)
                    .is_some_and(|value| values.iter().any(|v| normalise(v) == value));
                found != *negated
            }
            Rule::Contains { attribute, text } => subject
                .text(attribute)
                .is_some_and(|value| normalise(value).contains(&normalise(text))),
            Rule::Date {
                attribute,
                op,
                value,
            } => {
                let (Some(actual), Some(bound)) = (subject.date(attribute), value.resolve(today))
                else {
                    // No date: only "is not that date" holds.
                    return *op == DateOp::Ne;
                };
                match op {
                    DateOp::Eq => actual == bound,
                    DateOp::Ne => actual != bound,
                    DateOp::Lt => actual < bound,
                    DateOp::Le => actual <= bound,
                    DateOp::Gt => actual > bound,
                    DateOp::Ge => actual >= bound,
                }
            }
        }
    }

    /// Every attribute the rule reads (to know which changes can affect membership).
    pub fn attributes(&self) -> Vec<&Attribute> {
        let mut found = Vec::new();
        self.collect_attributes(&mut found);
        found
    }

    fn collect_attributes<'a>(&'a self, found: &mut Vec<&'a Attribute>) {
        match self {
            Rule::And(a, b) | Rule::Or(a, b) => {
                a.collect_attributes(found);
                b.collect_attributes(found);
            }
            Rule::Not(inner) => inner.collect_attributes(found),
            Rule::In { attribute, .. }
            | Rule::Contains { attribute, .. }
            | Rule::Date { attribute, .. } => {
                if !found.contains(&attribute) {
                    found.push(attribute);
                }
            }
        }
    }

    /// Whether the rule depends on the day it is evaluated (`now()`), so membership can change
    /// without any data changing and a daily sweep must re-evaluate it.
    pub fn depends_on_today(&self) -> bool {
        match self {
            Rule::And(a, b) | Rule::Or(a, b) => a.depends_on_today() || b.depends_on_today(),
            Rule::Not(inner) => inner.depends_on_today(),
            Rule::Date { value, .. } => matches!(value, DateValue::FromToday(_)),
            Rule::In { .. } | Rule::Contains { .. } => false,
        }
    }
}

mod lex;
mod parse;

pub use parse::parse;

#[cfg(test)]
mod tests;
