//! Moodle GIFT import and export for question banks.
//!
//! [`parse`] reads GIFT text into [`Question`]s, reporting each question it cannot read as a
//! [`GiftError`] with a line number and keeping the others. Question ids are left empty for
//! the caller; choice ids are `a`, `b`, … (`aa`, `ab`, … after `z`), pair ids `p1`, `p2`, …;
//! every question is worth one point and has no tags. [`export`] writes questions so that
//! whatever [`parse`] produced reads back unchanged.
//!
//! Supported, and how it maps onto [`Kind`]:
//!
//! - Questions are separated by blank lines; `//` comment lines and `$CATEGORY:` lines are
//!   skipped. A question is an optional `::title::`, an optional format marker (`[html]`,
//!   `[markdown]`, `[plain]`, `[moodle]`: dropped, the text kept as written), the text and one
//!   answer block `{…}`. Text after the block makes a missing-word question, the block's place
//!   shown as `_____`. `\~ \= \# \{ \} \: \\` are the characters themselves, `\n` a line break.
//! - `{}`: `Essay`. `{T}`, `{TRUE}`, `{F}`, `{FALSE}`, optionally `#when wrong#when right`:
//!   `TrueFalse`, each feedback filed under the answer that earns it.
//! - `{#value}`, `{#value:tolerance}`, `{#low..high}`: `Numeric`; of a list of answers
//!   (`{# =1.5:0.1 =%50%2:0.5}`) the first with full credit is kept.
//! - `{=prompt -> answer …}`: `Matching`. Only `=` answers: `ShortText`, not case-sensitive.
//! - One `=` among `~` answers and no `%weight%`: `SingleChoice` (weights 1 and 0). Any
//!   `%weight%`, or several `=`: `MultipleChoice`, weight n/100 (a bare `=` 1, a bare `~` 0),
//!   the positive weights making 100 %. An answer's `#feedback` follows its text; `####text`
//!   at the end of a block is the general feedback.
//!
//! Not supported: ordering questions (GIFT has none), case-sensitive short answers, matching
//! distractors (`= -> extra`), partial credit in short and numeric answers and their per-answer
//! feedback (dropped on import), points, tags and categories. [`export`] refuses a question it
//! cannot write so that it reads back as the same kind (it checks by reading it back).

use std::fmt;

use crate::domain::question::{Choice, Kind, Pair, Question};

/// A line-numbered problem in a GIFT text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftError {
    /// 1-based: where the fault is when known, else where its question starts.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for GiftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn err(line: usize, message: impl Into<String>) -> GiftError {
    let message = message.into();
    GiftError { line, message }
}

/// Format markers Moodle allows before a question's text.
const FORMATS: [&str; 4] = ["[markdown]", "[html]", "[plain]", "[moodle]"];
/// Stands where a missing-word question's answer block was.
const BLANK: &str = "_____";

/// One character of a question; only `raw` (unescaped) characters can be GIFT syntax.
#[derive(Clone, Copy)]
struct Tok {
    ch: char,
    raw: bool,
    line: usize,
}

impl Tok {
    fn is(self, c: char) -> bool {
        self.raw && self.ch == c
    }
}

/// An `=` or `~` answer, before the question's kind is known.
struct Entry {
    right: bool,
    /// The `%n%` weight as written, in percent.
    percent: Option<f64>,
    text: String,
    feedback: String,
    line: usize,
}

/// Parses a whole GIFT file. Good questions are returned even when others fail:
/// (questions, errors).
pub fn parse(text: &str) -> (Vec<Question>, Vec<GiftError>) {
    let (questions, errors) = parse_with_lines(text);
    (questions.into_iter().map(|(q, _)| q).collect(), errors)
}

/// As [`parse`], with the line each question starts on (for errors found after parsing).
pub fn parse_with_lines(text: &str) -> (Vec<(Question, usize)>, Vec<GiftError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut chunks: Vec<Vec<(usize, &str)>> = vec![Vec::new()];
    for (index, line) in text.lines().enumerate() {
        let start = line.trim_start();
        if start.starts_with("//") {
            continue;
        }
        if start.is_empty() || start.starts_with("$CATEGORY:") {
            if chunks.last().is_some_and(|c| !c.is_empty()) {
                chunks.push(Vec::new());
            }
        } else if let Some(chunk) = chunks.last_mut() {
            chunk.push((index + 1, line));
        }
    }
    let mut questions = Vec::new();
    let mut errors = Vec::new();
    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
        match question(chunk) {
            Ok(q) => questions.push((q, chunk[0].0)),
            Err(e) => errors.push(e),
        }
    }
    (questions, errors)
}

/// The characters of a question's lines joined by line breaks, escapes resolved.
fn tokenize(lines: &[(usize, &str)]) -> Vec<Tok> {
    let mut chars = Vec::new();
    for (i, &(line, text)) in lines.iter().enumerate() {
        if i > 0 {
            chars.push(('\n', line));
        }
        chars.extend(text.chars().map(|ch| (ch, line)));
    }
    let mut toks = Vec::with_capacity(chars.len());
    let mut i = 0;
    while let Some(&(c, line)) = chars.get(i) {
        let next = chars.get(i + 1).map(|&(next, _)| next);
        let (ch, raw, step) = match (c, next) {
            ('\\', Some('n')) => ('\n', false, 2),
            ('\\', Some(e @ ('~' | '=' | '#' | '{' | '}' | ':' | '\\'))) => (e, false, 2),
            // A backslash before anything else is just a backslash.
            ('\\', _) => ('\\', false, 1),
            _ => (c, true, 1),
        };
        toks.push(Tok { ch, raw, line });
        i += step;
    }
    toks
}

/// The text of some characters, trimmed.
fn plain(toks: &[Tok]) -> String {
    let text: String = toks.iter().map(|t| t.ch).collect();
    text.trim().to_owned()
}

fn trim(toks: &[Tok]) -> &[Tok] {
    let keep = |t: &Tok| !t.ch.is_whitespace();
    let start = toks.iter().position(keep).unwrap_or(toks.len());
    let end = toks.iter().rposition(keep).map_or(start, |i| i + 1);
    &toks[start..end]
}

/// The length of the format marker `s` starts with, if any.
fn format_marker(s: &str) -> Option<usize> {
    let starts = |m: &&str| s.get(..m.len()).is_some_and(|h| h.eq_ignore_ascii_case(m));
    FORMATS.into_iter().find(starts).map(str::len)
}

fn question(lines: &[(usize, &str)]) -> Result<Question, GiftError> {
    let start = lines.first().map_or(1, |&(line, _)| line);
    let toks = tokenize(lines);
    let mut rest = trim(&toks);
    let mut title = String::new();
    if rest.len() >= 2 && rest[0].is(':') && rest[1].is(':') {
        let body = &rest[2..];
        let Some(end) = body.windows(2).position(|w| w[0].is(':') && w[1].is(':')) else {
            return Err(err(start, "the title ::…:: is not closed"));
        };
        title = plain(&body[..end]);
        rest = trim(&body[end + 2..]);
    }
    let head: String = rest.iter().take(10).map(|t| t.ch).collect();
    if let Some(len) = format_marker(&head) {
        rest = &rest[len..];
    }

    let is_brace = |t: &Tok| t.is('{') || t.is('}');
    let stray = |line: usize| err(line, "a } without a {; write \\} for a brace");
    let Some(open) = rest.iter().position(is_brace) else {
        return Err(err(start, "no answer block {…}"));
    };
    if rest[open].is('}') {
        return Err(stray(rest[open].line));
    }
    let Some(len) = rest[open + 1..].iter().position(is_brace) else {
        return Err(err(rest[open].line, "the answer block { is not closed"));
    };
    let close = open + 1 + len;
    if rest[close].is('{') {
        return Err(err(rest[close].line, "a { inside an answer block"));
    }
    if let Some(t) = rest[close + 1..].iter().copied().find(is_brace) {
        return Err(if t.is('{') {
            err(t.line, "a second answer block {…}")
        } else {
            stray(t.line)
        });
    }

    let before: String = rest[..open].iter().map(|t| t.ch).collect();
    let after: String = rest[close + 1..].iter().map(|t| t.ch).collect();
    let text = if after.trim().is_empty() {
        before.trim().to_owned()
    } else {
        format!("{before}{BLANK}{after}").trim().to_owned()
    };
    let (kind, general_feedback) = block_kind(&rest[open + 1..close], start)?;
    Ok(Question {
        id: String::new(),
        title,
        text,
        points: 1.0,
        tags: Vec::new(),
        general_feedback,
        kind,
    })
}

/// Splits `####general feedback` off the end of a block.
fn split_general(block: &[Tok]) -> (&[Tok], &[Tok]) {
    let mut i = 0;
    while i < block.len() {
        let run = block[i..].iter().take_while(|t| t.is('#')).count();
        if run >= 4 {
            return (&block[..i + run - 4], &block[i + run..]);
        }
        i += run.max(1);
    }
    (block, &block[block.len()..])
}

fn block_kind(block: &[Tok], start: usize) -> Result<(Kind, String), GiftError> {
    let (block, general) = split_general(block);
    let block = trim(block);
    let kind = match block.first() {
        None => Kind::Essay,
        Some(first) if first.is('#') => numeric(&block[1..], first.line)?,
        Some(first) => match true_false(block, first.line)? {
            Some(kind) => kind,
            None => answers(block, start)?,
        },
    };
    Ok((kind, plain(general)))
}

/// `T#wrong#right` and the like; None when the block is something else.
fn true_false(block: &[Tok], line: usize) -> Result<Option<Kind>, GiftError> {
    if block.iter().any(|t| t.is('=') || t.is('~')) {
        return Ok(None);
    }
    let parts: Vec<&[Tok]> = block.split(|t| t.is('#')).collect();
    let answer = match plain(parts[0]).to_ascii_uppercase().as_str() {
        "T" | "TRUE" => true,
        "F" | "FALSE" => false,
        _ => return Ok(None),
    };
    if parts.len() > 3 {
        return Err(err(
            line,
            "true/false takes two feedbacks at most: {T#wrong#right}",
        ));
    }
    let [wrong, right] = [1, 2].map(|i| parts.get(i).copied().map(plain).unwrap_or_default());
    let (feedback_true, feedback_false) = if answer {
        (right, wrong)
    } else {
        (wrong, right)
    };
    Ok(Some(Kind::TrueFalse {
        answer,
        feedback_true,
        feedback_false,
    }))
}

fn full_credit(percent: f64) -> bool {
    (percent - 100.0).abs() < 1e-9
}

/// A numeric block, after its leading `#`.
fn numeric(body: &[Tok], line: usize) -> Result<Kind, GiftError> {
    let spec_of = |part: &[Tok]| plain(part.split(|t| t.is('#')).next().unwrap_or_default());
    let mut parts = body.split(|t| t.is('='));
    let lead = parts.next().unwrap_or_default();
    let mut chosen = None;
    if lead.len() == body.len() {
        chosen = Some(number(&spec_of(body), line)?);
    } else if !trim(lead).is_empty() {
        return Err(err(line, "numeric answers in a list start with ="));
    }
    for part in parts {
        let line = part.first().map_or(line, |t| t.line);
        let spec = spec_of(part);
        let (percent, spec) = match split_weight(&spec) {
            Some((weight, rest)) => (weight_percent(weight, line)?, rest),
            None => (100.0, spec.as_str()),
        };
        let answer = number(spec, line)?;
        if chosen.is_none() && full_credit(percent) {
            chosen = Some(answer);
        }
    }
    let Some((value, tolerance)) = chosen else {
        return Err(err(line, "no numeric answer with full credit"));
    };
    Ok(Kind::Numeric { value, tolerance })
}

/// `value`, `value:tolerance` or `low..high`, as (value, tolerance).
fn number(spec: &str, line: usize) -> Result<(f64, f64), GiftError> {
    let num = |s: &str| {
        let s = s.trim();
        let n = s.parse::<f64>().ok().filter(|v| v.is_finite());
        n.ok_or_else(|| err(line, format!("{s:?} is not a number")))
    };
    if let Some((low, high)) = spec.split_once("..") {
        let (low, high) = (num(low)?, num(high)?);
        if high < low {
            return Err(err(line, format!("the range {low}..{high} runs backwards")));
        }
        return Ok((low.midpoint(high), (high - low) / 2.0));
    }
    let (value, tolerance) = match spec.split_once(':') {
        Some((value, tolerance)) => (num(value)?, num(tolerance)?),
        None => (num(spec)?, 0.0),
    };
    if tolerance < 0.0 {
        return Err(err(line, format!("the tolerance {tolerance} is negative")));
    }
    Ok((value, tolerance))
}

/// `%n%rest` → (n, rest), when n looks like a number.
fn split_weight(s: &str) -> Option<(&str, &str)> {
    let (inner, rest) = s.strip_prefix('%')?.split_once('%')?;
    let number_like = |c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | ' ');
    let numeric = inner.chars().any(|c| c.is_ascii_digit()) && inner.chars().all(number_like);
    numeric.then_some((inner, rest))
}

fn weight_percent(inner: &str, line: usize) -> Result<f64, GiftError> {
    let inner = inner.trim();
    match inner.parse::<f64>() {
        Ok(n) if (-100.0..=100.0).contains(&n) => Ok(n),
        _ => Err(err(
            line,
            format!("%{inner}% is not a weight in -100..100 %"),
        )),
    }
}

/// One answer: its `=` or `~` and what follows up to the next one.
fn entry(mark: Tok, body: &[Tok]) -> Result<Entry, GiftError> {
    let line = mark.line;
    let (body, feedback) = match body.iter().position(|t| t.is('#')) {
        Some(hash) => (&body[..hash], plain(&body[hash + 1..])),
        None => (body, String::new()),
    };
    let full = plain(body);
    let split = split_weight(&full).map(|(w, rest)| (w.to_owned(), rest.trim().to_owned()));
    let (percent, text) = match split {
        Some((weight, rest)) => (Some(weight_percent(&weight, line)?), rest),
        None => (None, full),
    };
    if text.is_empty() {
        return Err(err(line, "an empty answer"));
    }
    let right = mark.is('=');
    Ok(Entry {
        right,
        percent,
        text,
        feedback,
        line,
    })
}

/// A block of `=` and `~` answers: choices, short text or matching.
fn answers(block: &[Tok], start: usize) -> Result<Kind, GiftError> {
    let is_mark = |t: &Tok| t.is('=') || t.is('~');
    if let Some(first) = block.first()
        && !is_mark(first)
    {
        return Err(err(
            first.line,
            "unknown answer block: answers start with = or ~",
        ));
    }
    let mut entries = Vec::new();
    let mut from = 0;
    for end in (1..=block.len()).filter(|&i| i == block.len() || is_mark(&block[i])) {
        entries.push(entry(block[from], &block[from + 1..end])?);
        from = end;
    }

    if entries.iter().all(|e| e.right) {
        if entries.iter().all(|e| e.text.contains("->")) {
            return matching(&entries);
        }
        let full = entries
            .into_iter()
            .filter(|e| e.percent.is_none_or(full_credit));
        let accepted: Vec<String> = full.map(|e| e.text).collect();
        if accepted.is_empty() {
            return Err(err(start, "no short answer with full credit"));
        }
        let case_sensitive = false;
        return Ok(Kind::ShortText {
            accepted,
            case_sensitive,
        });
    }

    let rights = entries.iter().filter(|e| e.right).count();
    let weighted = entries.iter().any(|e| e.percent.is_some());
    if !weighted && rights == 0 {
        return Err(err(
            start,
            "a single-choice question needs one right answer (=)",
        ));
    }
    let choices: Vec<Choice> = entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| Choice {
            id: letter_id(i),
            weight: e
                .percent
                .map_or(if e.right { 1.0 } else { 0.0 }, |p| p / 100.0),
            text: e.text,
            feedback: e.feedback,
        })
        .collect();
    if !weighted && rights == 1 {
        return Ok(Kind::SingleChoice { choices });
    }
    let total: f64 = choices.iter().map(|c| c.weight).filter(|w| *w > 0.0).sum();
    if (total - 1.0).abs() > 0.01 {
        let total = format_percent(total);
        let message = format!(
            "the positive weights of a multiple-choice question add up to {total} %, not 100 %"
        );
        return Err(err(start, message));
    }
    Ok(Kind::MultipleChoice { choices })
}

fn matching(entries: &[Entry]) -> Result<Kind, GiftError> {
    let mut pairs = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if e.percent.is_some() || !e.feedback.is_empty() {
            return Err(err(
                e.line,
                "a matching answer takes no %weight% or #feedback",
            ));
        }
        let (prompt, answer) = e.text.split_once("->").unwrap_or((e.text.as_str(), ""));
        let (prompt, answer) = (prompt.trim().to_owned(), answer.trim().to_owned());
        if prompt.is_empty() || answer.is_empty() {
            return Err(err(e.line, "a matching answer is =prompt -> answer"));
        }
        let id = format!("p{}", i + 1);
        pairs.push(Pair { id, prompt, answer });
    }
    Ok(Kind::Matching { pairs })
}

/// "a", "b", … "z", "aa", "ab", …
fn letter_id(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        n -= 1;
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    letters.iter().rev().map(|&b| char::from(b)).collect()
}

mod export;

pub use export::export;
use export::format_percent;

#[cfg(test)]
mod tests;
