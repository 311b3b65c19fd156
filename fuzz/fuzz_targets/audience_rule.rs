//! The dynamic-audience rule language (enrolment-service `domain::rules`): any text an
//! administrator types is parsed without panicking, and a rule that parses evaluates without
//! panicking on any person, on any day (including the ends of the calendar, where `now() ± n`
//! overflows).
#![no_main]

use std::collections::BTreeMap;

use chrono::NaiveDate;
use enrolment_service::domain::rules::{self, Attributes, MAX_RULE_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rule = match rules::parse(text) {
        Ok(rule) => rule,
        Err(error) => {
            // What the API returns to the client.
            let message = error.to_string();
            assert!(error.line >= 1 && error.column >= 1, "{message}");
            return;
        }
    };
    assert!(text.chars().count() <= MAX_RULE_CHARS);

    let attributes = rule.attributes();
    let _ = rule.depends_on_today();

    // Nobody: no attribute at all.
    let nobody = Attributes::default();
    // Someone with every attribute the rule reads: alternately a padded value and an empty one.
    let mut texts = BTreeMap::new();
    for (i, attribute) in attributes.iter().enumerate() {
        let value = if i % 2 == 0 { " Sales " } else { "" };
        texts.insert(attribute.to_string(), value.to_string());
    }
    let someone = Attributes {
        texts,
        hire_date: NaiveDate::from_ymd_opt(2026, 10, 1),
    };
    let edge = Attributes {
        texts: BTreeMap::new(),
        hire_date: Some(NaiveDate::MIN),
    };
    let days = [
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        NaiveDate::MIN,
        NaiveDate::MAX,
    ];
    for today in days {
        for person in [&nobody, &someone, &edge] {
            let _ = rule.matches(person, today);
        }
    }
});
