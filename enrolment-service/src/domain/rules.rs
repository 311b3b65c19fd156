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

// ---- lexer ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(i64),
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Tilde,
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => write!(f, "{w:?}"),
            Token::Text(t) => write!(f, "the text \"{t}\""),
            Token::Number(n) => write!(f, "{n}"),
            Token::LParen => f.write_str("\"(\""),
            Token::RParen => f.write_str("\")\""),
            Token::Comma => f.write_str("\",\""),
            Token::Plus => f.write_str("\"+\""),
            Token::Minus => f.write_str("\"-\""),
            Token::Eq => f.write_str("\"=\""),
            Token::Ne => f.write_str("\"!=\""),
            Token::Lt => f.write_str("\"<\""),
            Token::Le => f.write_str("\"<=\""),
            Token::Gt => f.write_str("\">\""),
            Token::Ge => f.write_str("\">=\""),
            Token::Tilde => f.write_str("\"~\""),
            Token::End => f.write_str("the end of the rule"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    line: usize,
    column: usize,
}

fn error_at(position: Position, message: impl Into<String>) -> RuleError {
    RuleError {
        line: position.line,
        column: position.column,
        message: message.into(),
    }
}

fn lex(source: &str) -> Result<Vec<(Token, Position)>, RuleError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut column) = (0, 1, 1);
    let advance = |i: &mut usize, line: &mut usize, column: &mut usize, c: char| {
        *i += 1;
        if c == '\n' {
            *line += 1;
            *column = 1;
        } else {
            *column += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let at = Position { line, column };
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut column, c);
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let (token, width) = match (c, two.as_str()) {
            (_, "!=") => (Token::Ne, 2),
            (_, "<=") => (Token::Le, 2),
            (_, ">=") => (Token::Ge, 2),
            ('(', _) => (Token::LParen, 1),
            (')', _) => (Token::RParen, 1),
            (',', _) => (Token::Comma, 1),
            ('+', _) => (Token::Plus, 1),
            ('-', _) => (Token::Minus, 1),
            ('=', _) => (Token::Eq, 1),
            ('<', _) => (Token::Lt, 1),
            ('>', _) => (Token::Gt, 1),
            ('~', _) => (Token::Tilde, 1),
            ('"', _) => {
                advance(&mut i, &mut line, &mut column, c);
                let mut text = String::new();
                loop {
                    let Some(&next) = chars.get(i) else {
                        return Err(error_at(at, "this text is never closed with \""));
                    };
                    advance(&mut i, &mut line, &mut column, next);
                    match next {
                        '"' => break,
                        '\\' => {
                            let Some(&escaped) = chars.get(i) else {
                                return Err(error_at(at, "this text is never closed with \""));
                            };
                            if escaped != '"' && escaped != '\\' {
                                return Err(error_at(
                                    Position { line, column },
                                    format!("unknown escape \\{escaped}: only \\\" and \\\\"),
                                ));
                            }
                            advance(&mut i, &mut line, &mut column, escaped);
                            text.push(escaped);
                        }
                        other => text.push(other),
                    }
                }
                tokens.push((Token::Text(text), at));
                continue;
            }
            (d, _) if d.is_ascii_digit() => {
                let mut digits = String::new();
                while let Some(&d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                    digits.push(d);
                    advance(&mut i, &mut line, &mut column, d);
                }
                let number = digits
                    .parse::<i64>()
                    .map_err(|_| error_at(at, "this number is too large"))?;
                tokens.push((Token::Number(number), at));
                continue;
            }
            (w, _) if w.is_alphabetic() || w == '_' => {
                let mut word = String::new();
                while let Some(&w) = chars
                    .get(i)
                    .filter(|w| w.is_alphanumeric() || **w == '_' || **w == '.')
                {
                    word.push(w);
                    advance(&mut i, &mut line, &mut column, w);
                }
                tokens.push((Token::Word(word), at));
                continue;
            }
            (other, _) => return Err(error_at(at, format!("unexpected character {other:?}"))),
        };
        for _ in 0..width {
            let c = chars[i];
            advance(&mut i, &mut line, &mut column, c);
        }
        tokens.push((token, at));
    }
    tokens.push((Token::End, Position { line, column }));
    Ok(tokens)
}

// ---- parser --------------------------------------------------------------------------------

struct Parser {
    tokens: Vec<(Token, Position)>,
    next: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &(Token, Position) {
        &self.tokens[self.next]
    }

    fn bump(&mut self) -> (Token, Position) {
        let token = self.tokens[self.next].clone();
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().0, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn expect(&mut self, expected: Token, what: &str) -> Result<Position, RuleError> {
        let (token, at) = self.bump();
        if token == expected {
            Ok(at)
        } else {
            Err(error_at(at, format!("expected {what}, found {token}")))
        }
    }

    fn rule(&mut self) -> Result<Rule, RuleError> {
        let mut left = self.and()?;
        while self.is_keyword("OR") {
            self.bump();
            let right = self.and()?;
            left = Rule::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Rule, RuleError> {
        let mut left = self.unary()?;
        while self.is_keyword("AND") {
            self.bump();
            let right = self.unary()?;
            left = Rule::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Rule, RuleError> {
        let at = self.peek().1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(error_at(
                at,
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        let rule = if self.is_keyword("NOT") {
            self.bump();
            Rule::Not(Box::new(self.unary()?))
        } else if self.peek().0 == Token::LParen {
            self.bump();
            let inner = self.rule()?;
            self.expect(Token::RParen, "\")\" to close the group")?;
            inner
        } else {
            self.comparison()?
        };
        self.depth -= 1;
        Ok(rule)
    }

    fn comparison(&mut self) -> Result<Rule, RuleError> {
        let (token, at) = self.bump();
        let Token::Word(name) = token else {
            return Err(error_at(
                at,
                format!("expected an attribute, found {token}"),
            ));
        };
        let attribute = Attribute::parse(&name).ok_or_else(|| {
            error_at(
                at,
                format!(
                    "unknown attribute {name:?}; known: external_id, email, name, status, \
                     department, job_title, location, manager, hire_date, attr.<key>"
                ),
            )
        })?;
        if attribute.is_date() {
            return self.date_comparison(attribute);
        }
        let (token, at) = self.bump();
        match token {
            Token::Eq | Token::Ne => {
                let value = self.text("a quoted text")?;
                Ok(Rule::In {
                    attribute,
                    values: vec![value],
                    negated: token == Token::Ne,
                })
            }
            Token::Tilde => Ok(Rule::Contains {
                attribute,
                text: self.text("a quoted text to look for")?,
            }),
            Token::Word(w) if w.eq_ignore_ascii_case("IN") => self.list(attribute, false),
            Token::Word(w) if w.eq_ignore_ascii_case("NOT") => {
                let (token, at) = self.bump();
                match token {
                    Token::Word(w) if w.eq_ignore_ascii_case("IN") => self.list(attribute, true),
                    other => Err(error_at(
                        at,
                        format!("expected IN after NOT, found {other}"),
                    )),
                }
            }
            Token::Lt | Token::Le | Token::Gt | Token::Ge => Err(error_at(
                at,
                format!("{attribute} is text: compare it with =, !=, ~ or IN"),
            )),
            other => Err(error_at(
                at,
                format!("expected =, !=, ~, IN or NOT IN after {attribute}, found {other}"),
            )),
        }
    }

    fn text(&mut self, what: &str) -> Result<String, RuleError> {
        let (token, at) = self.bump();
        match token {
            Token::Text(text) => Ok(text),
            other => Err(error_at(at, format!("expected {what}, found {other}"))),
        }
    }

    fn list(&mut self, attribute: Attribute, negated: bool) -> Result<Rule, RuleError> {
        self.expect(Token::LParen, "\"(\" to open the list")?;
        let mut values = vec![self.text("a quoted text")?];
        while self.peek().0 == Token::Comma {
            self.bump();
            values.push(self.text("a quoted text")?);
        }
        self.expect(Token::RParen, "\",\" or \")\" to close the list")?;
        Ok(Rule::In {
            attribute,
            values,
            negated,
        })
    }

    fn date_comparison(&mut self, attribute: Attribute) -> Result<Rule, RuleError> {
        let (token, at) = self.bump();
        let op = match token {
            Token::Eq => DateOp::Eq,
            Token::Ne => DateOp::Ne,
            Token::Lt => DateOp::Lt,
            Token::Le => DateOp::Le,
            Token::Gt => DateOp::Gt,
            Token::Ge => DateOp::Ge,
            other => {
                return Err(error_at(
                    at,
                    format!("expected =, !=, <, <=, > or >= after {attribute}, found {other}"),
                ));
            }
        };
        let (token, at) = self.bump();
        let value = match token {
            Token::Text(text) => {
                DateValue::Fixed(NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
                    error_at(at, format!("{text:?} is not a date like \"2026-01-31\""))
                })?)
            }
            Token::Word(w) if w.eq_ignore_ascii_case("now") => {
                self.expect(Token::LParen, "\"()\" after now")?;
                self.expect(Token::RParen, "\")\" after now(")?;
                let sign = match self.peek().0 {
                    Token::Plus => 1,
                    Token::Minus => -1,
                    _ => {
                        return Ok(Rule::Date {
                            attribute,
                            op,
                            value: DateValue::FromToday(0),
                        });
                    }
                };
                self.bump();
                let (token, at) = self.bump();
                let Token::Number(amount) = token else {
                    return Err(error_at(
                        at,
                        format!("expected a number of days like 90d, found {token}"),
                    ));
                };
                // The unit is lexed as a word stuck to the number: `90d` → 90, "d".
                let (unit, unit_at) = self.bump();
                let days = match unit {
                    Token::Word(u) if u.eq_ignore_ascii_case("d") => amount,
                    Token::Word(u) if u.eq_ignore_ascii_case("w") => amount.saturating_mul(7),
                    other => {
                        return Err(error_at(
                            unit_at,
                            format!(
                                "expected a unit after {amount}: d (days) or w (weeks), found {other}"
                            ),
                        ));
                    }
                };
                if days > 36_500 {
                    return Err(error_at(at, "at most 36500 days (100 years)"));
                }
                DateValue::FromToday(sign * days)
            }
            other => {
                return Err(error_at(
                    at,
                    format!("expected a date (\"2026-01-31\" or now() - 90d), found {other}"),
                ));
            }
        };
        Ok(Rule::Date {
            attribute,
            op,
            value,
        })
    }
}

/// Parses a rule, or says where and why it cannot be read.
pub fn parse(source: &str) -> Result<Rule, RuleError> {
    if source.chars().count() > MAX_RULE_CHARS {
        return Err(error_at(
            Position { line: 1, column: 1 },
            format!("a rule is at most {MAX_RULE_CHARS} characters"),
        ));
    }
    let tokens = lex(source)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
    };
    if parser.peek().0 == Token::End {
        return Err(error_at(parser.peek().1, "the rule is empty"));
    }
    let rule = parser.rule()?;
    let (token, at) = parser.bump();
    if token != Token::End {
        return Err(error_at(
            at,
            format!("expected AND, OR or the end of the rule, found {token}"),
        ));
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(pairs: &[(&str, &str)], hire_date: Option<&str>) -> Attributes {
        Attributes {
            texts: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            hire_date: hire_date.map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    const EXAMPLE: &str = r#"department = "Sales" AND (location IN ("ZA","UK") OR job_title ~ "Manager") AND hire_date >= now() - 90d"#;

    #[test]
    fn the_documented_example_matches_recent_sales_joiners() {
        let rule = parse(EXAMPLE).unwrap();
        let recent_za = person(
            &[("department", "sales"), ("location", "ZA")],
            Some("2026-10-01"),
        );
        let recent_manager = person(
            &[
                ("department", "Sales "),
                ("location", "US"),
                ("job_title", "Regional Manager"),
            ],
            Some("2026-09-01"),
        );
        let old_za = person(
            &[("department", "Sales"), ("location", "ZA")],
            Some("2025-01-01"),
        );
        let marketing = person(
            &[("department", "Marketing"), ("location", "UK")],
            Some("2026-11-01"),
        );
        let no_hire_date = person(&[("department", "Sales"), ("location", "UK")], None);
        assert!(rule.matches(&recent_za, today()));
        assert!(rule.matches(&recent_manager, today()));
        assert!(!rule.matches(&old_za, today()));
        assert!(!rule.matches(&marketing, today()));
        assert!(!rule.matches(&no_hire_date, today()));
        assert!(rule.depends_on_today());
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_negates() {
        let rule = parse(r#"location = "ZA" OR location = "UK" AND department = "HR""#).unwrap();
        assert!(rule.matches(&person(&[("location", "ZA")], None), today()));
        assert!(!rule.matches(&person(&[("location", "UK")], None), today()));
        let rule = parse(r#"NOT department IN ("HR", "Legal")"#).unwrap();
        assert!(rule.matches(&person(&[("department", "Sales")], None), today()));
        assert!(!rule.matches(&person(&[("department", "legal")], None), today()));
        assert!(
            rule.matches(&person(&[], None), today()),
            "no department is not HR"
        );
    }

    #[test]
    fn custom_attributes_and_escapes() {
        let rule = parse(r#"attr.cost_centre = "CC-\"7\"" and email ~ "@acme.com""#).unwrap();
        let subject = person(
            &[("attr.cost_centre", "CC-\"7\""), ("email", "Ada@ACME.com")],
            None,
        );
        assert!(rule.matches(&subject, today()));
        assert_eq!(rule.attributes().len(), 2);
        assert!(!rule.depends_on_today());
    }

    #[test]
    fn fixed_dates_and_weeks() {
        let rule = parse(r#"hire_date < "2026-01-01""#).unwrap();
        assert!(rule.matches(&person(&[], Some("2025-12-31")), today()));
        assert!(!rule.matches(&person(&[], Some("2026-01-01")), today()));
        let rule = parse("hire_date > now() - 2w").unwrap();
        assert!(rule.matches(&person(&[], Some("2026-11-20")), today()));
        assert!(!rule.matches(&person(&[], Some("2026-11-01")), today()));
    }

    fn error(source: &str) -> RuleError {
        parse(source).unwrap_err()
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = error("department = \"Sales\" AND\n  locaton = \"ZA\"");
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.message.contains("unknown attribute \"locaton\""), "{e}");

        let e = error(r#"department = "Sales" location = "ZA""#);
        assert_eq!((e.line, e.column), (1, 22));
        assert!(e.message.contains("expected AND, OR"), "{e}");

        let e = error(r#"department IN ("A", "B""#);
        assert_eq!(e.column, 24);

        let e = error(r#"department = "Sales"#);
        assert_eq!((e.line, e.column), (1, 14));
        assert!(e.message.contains("never closed"), "{e}");

        let e = error("hire_date >= now() - 90y");
        assert!(e.message.contains("d (days) or w (weeks)"), "{e}");

        let e = error(r#"hire_date = "31/01/2026""#);
        assert_eq!(e.column, 13);

        let e = error(r#"job_title > "M""#);
        assert!(e.message.contains("is text"), "{e}");

        assert!(error("").message.contains("empty"));
        assert!(error("department = Sales").message.contains("quoted text"));
        assert!(
            error("department = \"x\" # comment")
                .message
                .contains("unexpected character")
        );
    }

    #[test]
    fn hostile_rules_are_refused_cleanly() {
        let deep = format!("{}department = \"x\"{}", "(".repeat(100), ")".repeat(100));
        assert!(error(&deep).message.contains("nested"));
        let nots = format!("{}department = \"x\"", "NOT ".repeat(100));
        assert!(error(&nots).message.contains("nested"));
        let long = format!("department IN ({})", vec!["\"x\""; 2000].join(","));
        assert!(error(&long).message.contains("at most"));
        assert!(
            error("hire_date > now() - 99999999999999999999d")
                .message
                .contains("too large")
        );
    }
}
