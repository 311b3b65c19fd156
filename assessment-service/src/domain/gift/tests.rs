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
    let qs = parsed("::Essay:: [markdown] Describe **GIFT**. {####Mention braces.}\n\nWrite. {}");
    assert_eq!(
        (qs[0].title.as_str(), qs[0].text.as_str()),
        ("Essay", "Describe **GIFT**.")
    );
    assert_eq!(qs[0].general_feedback, "Mention braces.");
    assert_eq!((&qs[1].kind, qs[1].text.as_str()), (&Kind::Essay, "Write."));
}

#[test]
fn escapes_everywhere() {
    let q = parsed(r"::A \: b:: 1 \= 1 \{x\}? \\ \#\nnew. {=yes \~ sure#it is \#1 ~no}").remove(0);
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
    let questions = parsed("::T:: A? {=x#ok ~y}\n\n{#1..5}\n\nSun? {F#no#yes}\n\nP {=a ~%-50%b}");
    let expected = "::T:: A? {=x#ok ~y}\n\n{#3:2}\n\nSun? {FALSE#no#yes}\n\nP {~%100%a ~%-50%b}\n";
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
