//! The rule language's parser: recursive descent over the tokens, depth-limited.

use chrono::NaiveDate;

use super::lex::{Position, Token, error_at, lex};
use super::{Attribute, DateOp, DateValue, MAX_DEPTH, MAX_RULE_CHARS, Rule, RuleError};

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
