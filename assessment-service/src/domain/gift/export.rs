//! Questions written as GIFT, so that importing the text gives the same questions back.

use super::{format_marker, parse, split_weight};
use crate::domain::question::{Kind, Question};

/// weight × 100 with the fewest decimals (at most 5) that read back as the same weight; else
/// the shortest text of weight × 100 or of a number a few ulps from it that does (an imported
/// `%33.332334%` has one: itself), so an export reads back exactly.
pub(super) fn format_percent(weight: f64) -> String {
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
