//! Wire conversion: requests validated into use-case inputs, results into messages.

mod assignments;
mod groups;
mod people;

pub use crate::events::enrolment;
pub use assignments::*;
pub use groups::*;
pub use people::*;
