use super::*;

fn q(kind: Kind) -> Question {
    Question {
        id: "q".into(),
        title: String::new(),
        text: "?".into(),
        points: 4.0,
        tags: vec![],
        general_feedback: String::new(),
        kind,
    }
}

fn choice(id: &str, weight: f64) -> Choice {
    Choice {
        id: id.into(),
        text: id.into(),
        weight,
        feedback: format!("fb-{id}"),
    }
}

fn points(grade: Grade) -> f64 {
    match grade {
        Grade::Scored { points, .. } => points,
        Grade::Pending => -1.0,
    }
}

#[test]
fn single_choice_earns_all_or_nothing_with_the_chosen_feedback() {
    let q = q(Kind::SingleChoice {
        choices: vec![choice("a", 1.0), choice("b", 0.0)],
    });
    let right = q.grade(Some(&Answer::Choices {
        ids: vec!["a".into()],
    }));
    assert_eq!(
        right,
        Grade::Scored {
            points: 4.0,
            feedback: "fb-a".into()
        }
    );
    assert_eq!(
        points(q.grade(Some(&Answer::Choices {
            ids: vec!["b".into()]
        }))),
        0.0
    );
    assert_eq!(points(q.grade(None)), 0.0);
    assert!(
        q.check_answer(&Answer::Choices {
            ids: vec!["a".into(), "b".into()]
        })
        .is_err()
    );
    assert!(
        q.check_answer(&Answer::Choices {
            ids: vec!["zz".into()]
        })
        .is_err()
    );
}

#[test]
fn multiple_choice_sums_weights_and_never_goes_below_zero() {
    let q = q(Kind::MultipleChoice {
        choices: vec![choice("a", 0.5), choice("b", 0.5), choice("c", -1.0)],
    });
    let pick = |ids: &[&str]| {
        points(q.grade(Some(&Answer::Choices {
            ids: ids.iter().map(|s| s.to_string()).collect(),
        })))
    };
    assert_eq!(pick(&["a", "b"]), 4.0);
    assert_eq!(pick(&["a"]), 2.0);
    assert_eq!(pick(&["a", "c"]), 0.0);
    assert_eq!(pick(&["a", "b", "c"]), 0.0);
}

#[test]
fn true_false_short_text_and_numeric() {
    let tf = q(Kind::TrueFalse {
        answer: false,
        feedback_true: "no".into(),
        feedback_false: "yes".into(),
    });
    assert_eq!(
        tf.grade(Some(&Answer::TrueFalse { value: false })),
        Grade::Scored {
            points: 4.0,
            feedback: "yes".into()
        }
    );
    assert_eq!(
        points(tf.grade(Some(&Answer::TrueFalse { value: true }))),
        0.0
    );

    let text = q(Kind::ShortText {
        accepted: vec!["New  York".into()],
        case_sensitive: false,
    });
    assert_eq!(
        points(text.grade(Some(&Answer::Text {
            text: "  new york ".into()
        }))),
        4.0
    );
    assert_eq!(
        points(text.grade(Some(&Answer::Text {
            text: "York".into()
        }))),
        0.0
    );
    let exact = q(Kind::ShortText {
        accepted: vec!["NaCl".into()],
        case_sensitive: true,
    });
    assert_eq!(
        points(exact.grade(Some(&Answer::Text {
            text: "nacl".into()
        }))),
        0.0
    );

    let number = q(Kind::Numeric {
        value: 9.81,
        tolerance: 0.01,
    });
    assert_eq!(
        points(number.grade(Some(&Answer::Number { value: 9.815 }))),
        4.0
    );
    assert_eq!(
        points(number.grade(Some(&Answer::Number { value: 9.9 }))),
        0.0
    );
    assert!(
        number
            .check_answer(&Answer::Number { value: f64::NAN })
            .is_err()
    );
    assert!(
        number
            .check_answer(&Answer::Text {
                text: "3.14".into()
            })
            .is_err()
    );
}

#[test]
fn matching_and_ordering_earn_a_share_per_right_entry() {
    let matching = q(Kind::Matching {
        pairs: vec![
            Pair {
                id: "p1".into(),
                prompt: "FR".into(),
                answer: "Paris".into(),
            },
            Pair {
                id: "p2".into(),
                prompt: "DE".into(),
                answer: "Berlin".into(),
            },
        ],
    });
    let given = Answer::Matches {
        pairs: vec![("p1".into(), "Paris".into()), ("p2".into(), "Paris".into())],
    };
    assert_eq!(points(matching.grade(Some(&given))), 2.0);

    let ordering = q(Kind::Ordering {
        items: vec![
            choice("a", 0.0),
            choice("b", 0.0),
            choice("c", 0.0),
            choice("d", 0.0),
        ],
    });
    let order = |ids: &[&str]| Answer::Order {
        ids: ids.iter().map(|s| s.to_string()).collect(),
    };
    assert_eq!(
        points(ordering.grade(Some(&order(&["a", "b", "c", "d"])))),
        4.0
    );
    assert_eq!(
        points(ordering.grade(Some(&order(&["a", "b", "d", "c"])))),
        2.0
    );
    assert!(ordering.check_answer(&order(&["a", "a"])).is_err());
}

#[test]
fn essays_wait_for_an_instructor() {
    let essay = q(Kind::Essay);
    assert_eq!(
        essay.grade(Some(&Answer::Text {
            text: "My view".into()
        })),
        Grade::Pending
    );
}

#[test]
fn validation_names_the_field_and_fills_ids() {
    let mut bad = q(Kind::MultipleChoice {
        choices: vec![choice("", 0.5), choice("", 0.2)],
    });
    let mut v = lms_platform::validate::Violations::new();
    validate(&mut v, "question.", &mut bad);
    let err = v.finish().unwrap_err().to_string();
    assert!(err.contains("question.multiple_choice.choices"), "{err}");
    if let Kind::MultipleChoice { choices } = &bad.kind {
        assert_eq!(choices[0].id, "a");
        assert_eq!(choices[1].id, "b");
    }
    assert_eq!(letter_id(25), "z");
    assert_eq!(letter_id(26), "aa");
}
