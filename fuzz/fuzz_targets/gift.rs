//! GIFT import (assessment-service `domain::gift`): any uploaded text is parsed without
//! panicking. Whatever parses is exported; when the export succeeds (it refuses, with an
//! error, what GIFT cannot say), reading it back must give no error and the same questions.
#![no_main]

use assessment_service::domain::gift;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (questions, errors) = gift::parse(text);
    for error in &errors {
        assert!(error.line >= 1, "{error}");
        let _ = error.to_string();
    }
    if questions.is_empty() {
        return;
    }
    let Ok(written) = gift::export(&questions) else {
        return;
    };
    let (again, errors) = gift::parse(&written);
    assert!(
        errors.is_empty(),
        "the export does not read back: {errors:?}\nexported:\n{written}\nfrom:\n{text:?}"
    );
    assert_eq!(
        again, questions,
        "the export reads back differently\nexported:\n{written}\nfrom:\n{text:?}"
    );
});
