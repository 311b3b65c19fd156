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
