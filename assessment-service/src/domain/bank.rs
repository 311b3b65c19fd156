//! Question banks and the questions kept in them.

use lms_platform::resource::Audit;

use super::question::Question;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Bank {
    pub id: String,
    pub name: String,
    pub description: String,
    pub revision: i64,
    pub audit: Audit,
}

/// A stored question with its bank, revision and audit.
#[derive(Debug, Clone)]
pub struct StoredQuestion {
    pub bank_id: String,
    pub question: Question,
    pub revision: i64,
    pub audit: Audit,
}
