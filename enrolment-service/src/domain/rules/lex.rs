//! The rule language's tokens, with where each starts.

use std::fmt;

use super::RuleError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
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
pub(super) struct Position {
    pub line: usize,
    pub column: usize,
}

pub(super) fn error_at(position: Position, message: impl Into<String>) -> RuleError {
    RuleError {
        line: position.line,
        column: position.column,
        message: message.into(),
    }
}

pub(super) fn lex(source: &str) -> Result<Vec<(Token, Position)>, RuleError> {
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
