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

/// weight × 100 with the fewest decimals (at most 5) that read back as the same weight; else
/// the shortest text of weight × 100 or of a number a few ulps from it that does (an imported
/// `%33.332334%` has one: itself), so an export reads back exactly.
fn format_percent(weight: f64) -> String {
    let percent = weight * 100.0;
    let at = |decimals: usize| {
        let s = format!("{percent:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    let exact = |s: &String| s.parse::<f64>().is_ok_and(|n| n / 100.0 == weight);
    let mut near = vec![percent];
    let (mut down, mut up) = (percent, percent);
    for _ in 0..4 {
        (down, up) = (down.next_down(), up.next_up());
        near.extend([down, up]);
    }
    (0..=5)
        .map(at)
        .chain(near.iter().map(f64::to_string))
        .find(exact)
        .unwrap_or_else(|| at(5))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '~' | '=' | '#' | '{' | '}' | ':' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

/// Writes questions as GIFT. Returns Err(message) for a question GIFT cannot express
/// (Ordering) naming its title or index.
pub fn export(questions: &[Question]) -> Result<String, String> {
    let mut out = String::new();
    for (index, q) in questions.iter().enumerate() {
        let line = export_one(q).map_err(|why| {
            let name = if q.title.is_empty() {
                format!("question {}", index + 1)
            } else {
                format!("question {:?}", q.title)
            };
            format!("{name} cannot be written as GIFT: {why}")
        })?;
        if index > 0 {
            out.push('\n');
        }
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// One question on one line, checked by reading it back.
fn export_one(q: &Question) -> Result<String, String> {
    let mut out = String::new();
    if !q.title.is_empty() {
        out.push_str(&format!("::{}:: ", escape(&q.title)));
    }
    // A marker keeps a leading "[html]" in the text, "//" from reading as a comment and a
    // leading U+FEFF from reading as a byte order mark (at the start of the file).
    let text = q.text.trim_start();
    if text.starts_with("//") || text.starts_with('\u{feff}') || format_marker(text).is_some() {
        out.push_str("[moodle]");
    }
    out.push_str(&escape(&q.text));
    if !q.text.is_empty() {
        out.push(' ');
    }
    let mut block = export_block(&q.kind)?;
    if !q.general_feedback.is_empty() {
        block.push_str("####");
        block.push_str(&escape(&q.general_feedback));
    }
    out.push_str(&format!("{{{block}}}"));

    // What parse would reject or take for another kind (a single choice without a wrong
    // option, weights that do not make 100 %, an empty answer, …) is refused here.
    let (back, errors) = parse(&out);
    if let Some(e) = errors.into_iter().next() {
        return Err(e.message);
    }
    let kind = back.first().map_or("nothing", |b| b.kind.name());
    if kind != q.kind.name() {
        return Err(format!("it would read back as {kind}"));
    }
    Ok(out)
}

/// What goes between the braces, but the general feedback.
fn export_block(kind: &Kind) -> Result<String, String> {
    Ok(match kind {
        Kind::Essay => String::new(),
        Kind::TrueFalse {
            answer,
            feedback_true,
            feedback_false,
        } => {
            let (word, right, wrong) = if *answer {
                ("TRUE", feedback_true, feedback_false)
            } else {
                ("FALSE", feedback_false, feedback_true)
            };
            match (wrong.is_empty(), right.is_empty()) {
                (true, true) => word.to_owned(),
                (_, true) => format!("{word}#{}", escape(wrong)),
                _ => format!("{word}#{}#{}", escape(wrong), escape(right)),
            }
        }
        Kind::ShortText {
            case_sensitive: true,
            ..
        } => {
            return Err("GIFT short answers are never case-sensitive".into());
        }
        Kind::ShortText { accepted, .. } => {
            join(accepted.iter().map(|a| option('=', None, a, "")))?
        }
        Kind::SingleChoice { choices } => join(choices.iter().map(|c| {
            let mark = if c.weight > 0.0 { '=' } else { '~' };
            option(mark, None, &c.text, &c.feedback)
        }))?,
        Kind::MultipleChoice { choices } => join(choices.iter().map(|c| {
            let looks_weighted = split_weight(c.text.trim_start()).is_some();
            let weight = (c.weight != 0.0 || looks_weighted).then_some(c.weight);
            option('~', weight, &c.text, &c.feedback)
        }))?,
        Kind::Numeric { value, tolerance } if *tolerance == 0.0 => format!("#{value}"),
        Kind::Numeric { value, tolerance } => format!("#{value}:{tolerance}"),
        Kind::Matching { pairs } => {
            if pairs.iter().any(|p| p.prompt.contains("->")) {
                return Err("a matching prompt cannot contain ->".into());
            }
            let written: Vec<String> = pairs
                .iter()
                .map(|p| format!("={} -> {}", escape(&p.prompt), escape(&p.answer)))
                .collect();
            written.join(" ")
        }
        Kind::Ordering { .. } => return Err("GIFT has no ordering questions".into()),
    })
}

fn join(options: impl Iterator<Item = Result<String, String>>) -> Result<String, String> {
    Ok(options.collect::<Result<Vec<_>, _>>()?.join(" "))
}

/// One `=` or `~` answer, with its `%weight%` when given and its `#feedback` when any.
fn option(mark: char, weight: Option<f64>, text: &str, feedback: &str) -> Result<String, String> {
    let weight = match weight {
        Some(w) => format!("%{}%", format_percent(w)),
        None if split_weight(text.trim_start()).is_some() => {
            return Err(format!("the answer {text:?} would read back as a %weight%"));
        }
        None => String::new(),
    };
    let text = escape(text);
    let feedback = if feedback.trim().is_empty() {
        String::new()
    } else {
        format!("#{}", escape(feedback))
    };
    Ok(format!("{mark}{weight}{text}{feedback}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<Question> {
        let (questions, errors) = parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        questions
    }

    fn kinds(text: &str) -> Vec<Kind> {
        parsed(text).into_iter().map(|q| q.kind).collect()
    }

    /// Choices "a", "b", … from (text, weight, feedback).
    fn choices(list: &[(&str, f64, &str)]) -> Vec<Choice> {
        let mut out = Vec::new();
        for (i, &(text, weight, feedback)) in list.iter().enumerate() {
            let (id, text, feedback) = (letter_id(i), text.into(), feedback.into());
            out.push(Choice {
                id,
                text,
                weight,
                feedback,
            });
        }
        out
    }

    fn single(list: &[(&str, f64, &str)]) -> Kind {
        Kind::SingleChoice {
            choices: choices(list),
        }
    }

    fn multi(list: &[(&str, f64, &str)]) -> Kind {
        Kind::MultipleChoice {
            choices: choices(list),
        }
    }

    fn tf(answer: bool, on_true: &str, on_false: &str) -> Kind {
        let (feedback_true, feedback_false) = (on_true.into(), on_false.into());
        Kind::TrueFalse {
            answer,
            feedback_true,
            feedback_false,
        }
    }

    fn num(value: f64, tolerance: f64) -> Kind {
        Kind::Numeric { value, tolerance }
    }

    #[test]
    fn single_choice_with_title_marker_feedback_and_general_feedback() {
        let q = parsed(
            "// a comment
            ::Capital:: [html] What is the capital of France? {
              =Paris#Right!
              ~London#No, that is England.
              ~Berlin
            ####Paris since 987.
            }",
        )
        .remove(0);
        assert_eq!(q.title, "Capital");
        assert_eq!(q.text, "What is the capital of France?");
        assert_eq!(q.general_feedback, "Paris since 987.");
        assert_eq!((q.id.as_str(), q.points, q.tags.len()), ("", 1.0, 0));
        let london = ("London", 0.0, "No, that is England.");
        let expected = single(&[("Paris", 1.0, "Right!"), london, ("Berlin", 0.0, "")]);
        assert_eq!(q.kind, expected);
    }

    #[test]
    fn multiple_choice_takes_weights() {
        let got = kinds("Primes? {~%50%2 ~%50%3 ~%-100%4#Even. ~9}\n\nPick {=a ~%-50%b}");
        let four = ("4", -1.0, "Even.");
        let first = multi(&[("2", 0.5, ""), ("3", 0.5, ""), four, ("9", 0.0, "")]);
        let second = multi(&[("a", 1.0, ""), ("b", -0.5, "")]);
        assert_eq!(got, [first, second]);
    }

    #[test]
    fn multiple_choice_weights_must_make_100_percent() {
        let (questions, errors) = parse("Pick {~%50%a ~%30%b ~c}\n\nBoth {=a =b ~c}");
        assert!(questions.is_empty());
        let start = "line 1: the positive weights of a multiple-choice question add up to";
        assert_eq!(errors[0].to_string(), format!("{start} 80 %, not 100 %"));
        assert_eq!((errors.len(), errors[1].line), (2, 3));
        assert!(errors[1].message.contains(" 200 %"), "{errors:?}");
    }

    #[test]
    fn true_false_feedback_is_filed_under_the_answer_given() {
        let got = kinds("Sun? {T#Think again.#Yes!}\n\nFly? {FALSE#Wrong.#Right.}\n\nSo? {t}");
        let expected = [
            tf(true, "Yes!", "Think again."),
            tf(false, "Wrong.", "Right."),
            tf(true, "", ""),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn short_text_keeps_full_credit_answers() {
        let accepted = vec!["four".to_owned(), "4".to_owned()];
        let expected = Kind::ShortText {
            accepted,
            case_sensitive: false,
        };
        assert_eq!(kinds("Two plus two? {=four =4 =%50%fore}"), [expected]);
    }

    #[test]
    fn numeric_forms() {
        let questions = parsed(
            "g? {#9.81:0.005}\n\n{#1..5}\n\nAnswer {#42}\n\n\
             Half {# =%50%2:0.5 =1.5:0.1#Good ####Halfway.}",
        );
        let got: Vec<Kind> = questions.iter().map(|q| q.kind.clone()).collect();
        let expected = [
            num(9.81, 0.005),
            num(3.0, 2.0),
            num(42.0, 0.0),
            num(1.5, 0.1),
        ];
        assert_eq!(got, expected);
        assert_eq!(
            (questions[1].text.as_str(), questions[2].text.as_str()),
            ("", "Answer")
        );
        assert_eq!(questions[3].general_feedback, "Halfway.");
    }

    #[test]
    fn matching_pairs() {
        let got = kinds("Match. {\n =France -> Paris\n =Italy -> Rome -> really\n}");
        let pair = |id: &str, prompt: &str, answer: &str| {
            let (id, prompt, answer) = (id.into(), prompt.into(), answer.into());
            Pair { id, prompt, answer }
        };
        let pairs = vec![
            pair("p1", "France", "Paris"),
            pair("p2", "Italy", "Rome -> really"),
        ];
        assert_eq!(got, [Kind::Matching { pairs }]);
    }

    #[test]
    fn essays_with_and_without_general_feedback() {
        let qs =
            parsed("::Essay:: [markdown] Describe **GIFT**. {####Mention braces.}\n\nWrite. {}");
        assert_eq!(
            (qs[0].title.as_str(), qs[0].text.as_str()),
            ("Essay", "Describe **GIFT**.")
        );
        assert_eq!(qs[0].general_feedback, "Mention braces.");
        assert_eq!((&qs[1].kind, qs[1].text.as_str()), (&Kind::Essay, "Write."));
    }

    #[test]
    fn escapes_everywhere() {
        let q =
            parsed(r"::A \: b:: 1 \= 1 \{x\}? \\ \#\nnew. {=yes \~ sure#it is \#1 ~no}").remove(0);
        assert_eq!(q.title, "A : b");
        assert_eq!(q.text, "1 = 1 {x}? \\ #\nnew.");
        assert_eq!(
            q.kind,
            single(&[("yes ~ sure", 1.0, "it is #1"), ("no", 0.0, "")])
        );
    }

    #[test]
    fn comments_categories_and_multi_line_questions() {
        let qs = parsed(
            "$CATEGORY: $course$/Geography\n\n// one\n::Q1::\nWhat is\n// inline\n2 + 2? {\n\
             =4\n~5\n}\n$CATEGORY: other\n::Q2:: Yes? {T}\n",
        );
        assert_eq!(
            (qs.len(), qs[0].title.as_str(), qs[1].title.as_str()),
            (2, "Q1", "Q2")
        );
        assert_eq!(qs[0].text, "What is\n2 + 2?");
        assert_eq!(qs[0].kind, single(&[("4", 1.0, ""), ("5", 0.0, "")]));
    }

    #[test]
    fn missing_word_marks_the_blank() {
        let q = parsed("Grant is {~buried =entombed ~living} in Grant's tomb.").remove(0);
        assert_eq!(q.text, "Grant is _____ in Grant's tomb.");
        let list = [
            ("buried", 0.0, ""),
            ("entombed", 1.0, ""),
            ("living", 0.0, ""),
        ];
        assert_eq!(q.kind, single(&list));
    }

    #[test]
    fn errors_name_their_lines_and_good_questions_still_come_back() {
        let text = [
            "::Good1:: One? {=yes ~no}",          // 1
            "",                                   // 2
            "::NoBlock:: Just a paragraph.",      // 3
            "",                                   // 4
            "::Unclosed:: Text {=a",              // 5
            "~b",                                 // 6
            "",                                   // 7
            "::Good2:: Two? {T}",                 // 8
            "",                                   // 9
            "::Empty:: Pick one {",               // 10
            "=right",                             // 11
            "~",                                  // 12
            "}",                                  // 13
            "",                                   // 14
            "::Two blocks:: {=a ~b} and {=c ~d}", // 15
            "",                                   // 16
            "::BadNumber:: {#12x}",               // 17
            "",                                   // 18
            "::NoRight:: {~a ~b}",                // 19
            "",                                   // 20
            "Good3 {}",                           // 21
        ];
        let (questions, errors) = parse(&text.join("\n"));
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 5, 12, 15, 17, 19], "{errors:?}");
        assert_eq!(errors[0].to_string(), "line 3: no answer block {…}");
        assert_eq!(errors[4].message, "\"12x\" is not a number");
        let titles: Vec<&str> = questions.iter().map(|q| q.title.as_str()).collect();
        assert_eq!(titles, ["Good1", "Good2", ""]);
        assert_eq!(
            (questions[2].text.as_str(), &questions[2].kind),
            ("Good3", &Kind::Essay)
        );
    }

    const EVERY_KIND: &str = r"// every kind GIFT can carry
::Single \: one:: Capital of France? {=Paris#Right. ~Lyon#No. ~Nice####Paris since 987.}

::Multi:: Primes? {~%50%2 ~%50%3 ~%-100%4#Even. ~9}

::Thirds:: Pick {~%33.33333%a ~%33.33333%b ~%33.33334%c ~d}

::Weighted right:: Pick {=a ~%-50%b}

::TF:: The sun is a star. {TRUE#Think again.#Yes!}

::TF2:: Fish fly. {F##Right, they swim.}

::Only title:: {T}

::Short:: Two plus two? {=four =4}

::Numbers:: g? {#9.81:0.005}

Between one and five {#1..5}

A whole number {#-42####Exactly -42.}

::Match:: Capitals {=France -> Paris =Italy -> Rome -> really =Spain -> Madrid}

::Essay:: [markdown] Describe **GIFT**. {####Mention the braces.}

Grant is {~buried =entombed#Yes. ~living} in Grant's tomb.

Escapes\: 1 \= 1, \{x\}, a \~ b, \#1, back\\slash\nand a new line {=ok}

[plain][html]<b>bold</b> {}

[plain]// not a comment {}
";

    #[test]
    fn round_trip_of_every_kind_is_exact() {
        let questions = parsed(EVERY_KIND);
        assert_eq!(questions.len(), 17);
        let written = export(&questions).expect("every kind but ordering exports");
        let (again, errors) = parse(&written);
        assert!(errors.is_empty(), "{errors:?}\n{written}");
        assert_eq!(again, questions, "{written}");
        assert_eq!(export(&again).as_deref(), Ok(written.as_str()));
    }

    /// Found by the `gift` fuzz target: weights with more than five decimals were written
    /// rounded to five, and read back as other weights.
    #[test]
    fn weights_with_many_decimals_read_back_exactly() {
        let questions = parsed("Pick {~%33.332334%a ~%33.3333333%b ~%33.3343327%c ~d}");
        let written = export(&questions).unwrap();
        assert_eq!(
            written,
            "Pick {~%33.332334%a ~%33.3333333%b ~%33.3343327%c ~d}\n"
        );
        assert_eq!(parsed(&written), questions);
    }

    /// Found by the `gift` fuzz target: a question whose text starts with U+FEFF, written
    /// first, lost it on reading back (taken for the file's byte order mark).
    #[test]
    fn a_leading_byte_order_mark_in_a_text_is_kept() {
        let questions = parsed("Q {}\n\n\u{feff}wer {#42}");
        assert_eq!(questions[1].text, "\u{feff}wer");
        let written = export(&questions[1..]).unwrap();
        assert_eq!(parsed(&written), questions[1..]);
    }

    #[test]
    fn export_writes_one_line_per_question() {
        let questions =
            parsed("::T:: A? {=x#ok ~y}\n\n{#1..5}\n\nSun? {F#no#yes}\n\nP {=a ~%-50%b}");
        let expected =
            "::T:: A? {=x#ok ~y}\n\n{#3:2}\n\nSun? {FALSE#no#yes}\n\nP {~%100%a ~%-50%b}\n";
        assert_eq!(export(&questions).as_deref(), Ok(expected));
    }

    #[test]
    fn export_refuses_what_gift_cannot_say() {
        let mut q = parsed("::Steps:: Order them {}").remove(0);
        q.kind = Kind::Ordering {
            items: choices(&[("first", 0.0, "")]),
        };
        let refusal = export(std::slice::from_ref(&q)).expect_err("ordering");
        assert!(refusal.starts_with("question \"Steps\" ") && refusal.contains("ordering"));
        q.title.clear();
        let refusal = export(&[parsed("Say {}").remove(0), q.clone()]).expect_err("ordering");
        assert!(refusal.starts_with("question 2 "), "{refusal}");
        let refused = [
            Kind::ShortText {
                accepted: vec!["A".into()],
                case_sensitive: true,
            },
            single(&[("only", 1.0, "")]),
            multi(&[("a", 0.5, ""), ("b", 0.0, "")]),
            num(f64::NAN, 0.0),
        ];
        for kind in refused {
            q.kind = kind;
            assert!(export(std::slice::from_ref(&q)).is_err(), "{q:?}");
        }
    }

    #[test]
    fn option_ids_run_past_z() {
        let ids: Vec<String> = [0, 25, 26, 27, 701, 702].map(letter_id).into();
        assert_eq!(ids, ["a", "z", "aa", "ab", "zz", "aaa"]);
        let wrong: Vec<String> = (0..28).map(|i| format!("~w{i}")).collect();
        let q = parsed(&format!("Many {{=right {}}}", wrong.join(" "))).remove(0);
        let Kind::SingleChoice { choices } = &q.kind else {
            panic!("{:?}", q.kind)
        };
        assert_eq!(choices.len(), 29);
        assert_eq!(
            (choices[28].id.as_str(), choices[28].text.as_str()),
            ("ac", "w27")
        );
    }
}
