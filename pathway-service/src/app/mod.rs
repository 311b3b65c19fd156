//! Use cases: what each request does, in which transaction, calling the domain rules and
//! storage. Who may call each RPC is the gRPC layer's policy; what a caller may see of the
//! data (a learner reads published pathways only) is decided here.

mod categories;
mod pathways;

use lms_platform::db::Db;
use lms_platform::{AppError, AppResult};

use crate::clients::assessments::Assessments;

pub use categories::{CategoryPatch, NewCategory, TreeNode};

#[derive(Clone)]
pub struct PathwayApp {
    db: Db,
    assessments: Assessments,
}

impl PathwayApp {
    pub fn new(db: Db, assessments: Assessments) -> Self {
        Self { db, assessments }
    }
}

/// A number inside a page token.
fn parse_token_number(text: &str) -> AppResult<i32> {
    text.parse()
        .map_err(|_| AppError::invalid_field("page_token", "is malformed"))
}
