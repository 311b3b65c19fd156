//! The value formats xAPI names (IEEE 9274.1.1 / xAPI 1.0.3 Data §4.2 and 2.0.0 Part Two):
//! IRIs, UUIDs, timestamps, durations, language tags, mailbox and hash strings.

use chrono::{DateTime, FixedOffset, Offset};

/// An absolute IRI (RFC 3987): a scheme, then anything an IRI allows. xAPI ids (verbs,
/// activities, extension keys, usage types) and IRLs (moreInfo, homePage, fileUrl) are these.
pub fn is_iri(text: &str) -> bool {
    iri_string::types::IriStr::new(text).is_ok()
}

/// A UUID in its canonical 8-4-4-4-12 text form (either case), as xAPI requires of statement
/// ids and registrations; returned lowercased, the form the store keys it by.
pub fn uuid(text: &str) -> Option<String> {
    let hyphens_at = [8, 13, 18, 23];
    let shaped = text.len() == 36
        && text.char_indices().all(|(at, c)| {
            (c == '-') == hyphens_at.contains(&at) && (c == '-' || c.is_ascii_hexdigit())
        });
    if !shaped {
        return None;
    }
    uuid::Uuid::parse_str(text).ok().map(|u| u.to_string())
}

/// An ISO 8601 combined date and time: extended (`2013-05-18T05:32:34.804+01:00`, a space
/// for the `T` too) or basic (`20130518T053234Z`), with an offset or none (then UTC, which
/// xAPI 1.0.3 lets a store assume). The "unknown offset" `-00:00` (and `-0000`, `-00`) is
/// refused, as the specification requires.
pub fn timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    if text.ends_with("-00:00") || text.ends_with("-0000") || text.ends_with("-00") {
        return None;
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at);
    }
    // chrono's %#z reads +hh, +hhmm and +hh:mm, not Z.
    let zoned = match text.strip_suffix(['Z', 'z']) {
        Some(local) => format!("{local}+00:00"),
        None => text.to_string(),
    };
    for format in ["%Y%m%dT%H%M%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(at) = DateTime::parse_from_str(&zoned, format) {
            return Some(at);
        }
    }
    let utc = chrono::Utc.fix();
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y%m%dT%H%M%S%.f",
    ]
    .into_iter()
    .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
    .map(|naive| naive.and_utc().with_timezone(&utc))
}

/// An ISO 8601 duration: `P`, then years, months, weeks, days, and after `T` hours, minutes
/// and seconds, each optional but at least one present; only the last may have a fraction.
pub fn is_duration(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (rest, None),
    };
    let Some(date_parts) = duration_parts(date, &['Y', 'M', 'W', 'D']) else {
        return false;
    };
    let time_parts = match time {
        Some(time) => match duration_parts(time, &['H', 'M', 'S']) {
            Some(parts) if !parts.is_empty() => parts,
            _ => return false,
        },
        None => Vec::new(),
    };
    let all: Vec<&str> = date_parts.iter().chain(&time_parts).copied().collect();
    // Only the smallest component given may carry a fraction.
    !all.is_empty()
        && all[..all.len() - 1]
            .iter()
            .all(|number| !number.contains(['.', ',']))
}

/// Splits `5Y3M` into its numbers, checking the designators come in order, each at most once.
fn duration_parts<'a>(text: &'a str, designators: &[char]) -> Option<Vec<&'a str>> {
    let mut parts = Vec::new();
    let mut next = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let at = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))?;
        let (number, tail) = rest.split_at(at);
        let designator = tail.chars().next()?;
        let position = designators[next..].iter().position(|d| *d == designator)?;
        let well_formed = !number.is_empty()
            && number.chars().next().is_some_and(|c| c.is_ascii_digit())
            && number.chars().last().is_some_and(|c| c.is_ascii_digit())
            && number.matches(['.', ',']).count() <= 1;
        if !well_formed {
            return None;
        }
        parts.push(number);
        next += position + 1;
        rest = &tail[designator.len_utf8()..];
    }
    Some(parts)
}

/// An RFC 5646 language tag (`en`, `en-US`, `zh-Hant-TW`), as language map keys must be.
pub fn is_language_tag(text: &str) -> bool {
    language_tags::LanguageTag::parse(text).is_ok_and(|tag| tag.is_valid())
}

/// `mailto:` and an email address, as an Agent's `mbox` must be.
pub fn is_mailbox(text: &str) -> bool {
    let Some(address) = text.strip_prefix("mailto:") else {
        return false;
    };
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !address.contains(char::is_whitespace)
                && !domain.contains('@')
                && is_iri(text)
        }
        None => false,
    }
}

/// Hex digits of exactly `length` characters (a SHA-1 is 40; SHA-2 digests 56, 64, 96 or 128).
pub fn is_hex(text: &str, length: usize) -> bool {
    text.len() == length && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// A SHA-2 digest in hex: SHA-224, SHA-256, SHA-384 or SHA-512.
pub fn is_sha2(text: &str) -> bool {
    [56, 64, 96, 128]
        .into_iter()
        .any(|length| is_hex(text, length))
}

/// An Internet media type (`type/subtype`, parameters allowed), as an attachment's
/// `contentType` must be.
pub fn is_media_type(text: &str) -> bool {
    text.parse::<mime::Mime>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_in_canonical_form_only() {
        assert_eq!(
            uuid("FD41C918-B88B-4B20-A0A5-A4C32391AAA0").as_deref(),
            Some("fd41c918-b88b-4b20-a0a5-a4c32391aaa0")
        );
        for bad in [
            "fd41c918b88b4b20a0a5a4c32391aaa0",
            "{fd41c918-b88b-4b20-a0a5-a4c32391aaa0}",
            "urn:uuid:fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
            "fd41c918-b88b-4b20-a0a5-a4c32391aaaz",
            "not-a-uuid",
            "",
        ] {
            assert_eq!(uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_need_a_known_offset() {
        assert!(timestamp("2013-05-18T05:32:34.804Z").is_some());
        assert!(timestamp("2013-05-18T05:32:34+01:00").is_some());
        assert!(timestamp("2008-09-15 15:53:00.601+00:00").is_some());
        assert!(timestamp("2013-05-18T05:32:34.804").is_some());
        assert!(timestamp("20130518T053234Z").is_some());
        for bad in [
            "2013-05-18T05:32:34-00:00",
            "2013-05-18",
            "05/18/2013",
            "01/011/2015",
            "should fail",
            "2008-09-15T15:53:00.601-0000",
            "2008-09-15T15:53:00.601-00",
            "2013-13-18T05:32:34Z",
            "2013-05-18T25:32:34Z",
        ] {
            assert!(timestamp(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        for good in [
            "PT1H0M0S",
            "P1Y2M3DT4H5M6.75S",
            "PT0.01S",
            "P3W",
            "P1D",
            "PT16559.14S",
        ] {
            assert!(is_duration(good), "{good}");
        }
        for bad in [
            "", "P", "PT", "1H", "PT1.5H2M", "P1M1Y", "PT1H1H", "P-1D", "PT.5S", "P1DT",
        ] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn language_tags_mailboxes_iris() {
        assert!(is_language_tag("en-US") && is_language_tag("zh-Hant-TW"));
        assert!(!is_language_tag("not a tag") && !is_language_tag(""));
        assert!(is_mailbox("mailto:xapi@example.com"));
        assert!(!is_mailbox("xapi@example.com") && !is_mailbox("mailto:nobody"));
        assert!(is_iri("http://adlnet.gov/expapi/verbs/voided"));
        assert!(is_iri("urn:example:é"));
        assert!(!is_iri("not an iri") && !is_iri("verbs/voided") && !is_iri(""));
        assert!(is_sha2(&"a".repeat(64)) && !is_sha2(&"a".repeat(40)));
        assert!(is_media_type("text/plain; charset=utf-8") && !is_media_type("text"));
    }
}
