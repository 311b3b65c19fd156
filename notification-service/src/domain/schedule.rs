//! When reminders fall due: before a due date (the configured offsets, e.g. 14, 7 and 1 days),
//! on it (overdue), and some days after it (escalation to the manager).

use chrono::{Duration, NaiveDateTime};

use super::kind::Kind;

/// One reminder of an enrolment's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// This many days before the due date.
    DueSoon(u32),
    Overdue,
    /// To the learner's manager, this many days after the due date.
    Escalation(u32),
}

impl Stage {
    pub fn kind(self) -> Kind {
        match self {
            Stage::DueSoon(_) => Kind::DueSoon,
            Stage::Overdue => Kind::Overdue,
            Stage::Escalation(_) => Kind::Escalation,
        }
    }

    /// What makes this reminder for this due date one of a kind (with the enrolment): the same
    /// reminder is never sent twice, and a new due date brings new reminders.
    pub fn dedup_key(self, enrolment_id: &str, due: NaiveDateTime) -> String {
        let due = due.format("%Y-%m-%dT%H:%M:%S");
        match self {
            Stage::DueSoon(days) => format!("due_soon:{enrolment_id}:{due}:{days}"),
            Stage::Overdue => format!("overdue:{enrolment_id}:{due}"),
            Stage::Escalation(_) => format!("escalation:{enrolment_id}:{due}"),
        }
    }
}

/// The reminders of a due date, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderPlan {
    stages: Vec<Stage>,
}

/// The next reminder: its position in the plan and when it falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub stage: usize,
    pub at: NaiveDateTime,
}

impl ReminderPlan {
    /// `due_soon_days` in any order (duplicates and 0 ignored); `escalation_days` 0: no
    /// escalation.
    pub fn new(due_soon_days: &[u32], escalation_days: u32) -> Self {
        let mut days: Vec<u32> = due_soon_days.iter().copied().filter(|d| *d > 0).collect();
        days.sort_unstable_by(|a, b| b.cmp(a));
        days.dedup();
        let mut stages: Vec<Stage> = days.into_iter().map(Stage::DueSoon).collect();
        stages.push(Stage::Overdue);
        if escalation_days > 0 {
            stages.push(Stage::Escalation(escalation_days));
        }
        ReminderPlan { stages }
    }

    pub fn stage(&self, index: usize) -> Option<Stage> {
        self.stages.get(index).copied()
    }

    /// When `stage` falls due for `due`.
    pub fn at(&self, stage: Stage, due: NaiveDateTime) -> NaiveDateTime {
        match stage {
            Stage::DueSoon(days) => due - Duration::days(i64::from(days)),
            Stage::Overdue => due,
            Stage::Escalation(days) => due + Duration::days(i64::from(days)),
        }
    }

    /// The first reminder from position `from` on that is still worth sending at `now`: a
    /// due-soon reminder whose day has passed is skipped (a learner assigned 3 days before the
    /// due date is not told "14 days left"), while overdue and escalation always follow,
    /// at once when their day has passed.
    pub fn next(&self, due: NaiveDateTime, from: usize, now: NaiveDateTime) -> Option<Next> {
        self.stages
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, stage)| !matches!(stage, Stage::DueSoon(_)) || self.at(**stage, due) > now)
            .map(|(index, stage)| Next {
                stage: index,
                at: self.at(*stage, due),
            })
    }
}

/// Whole days from `from` to `to`, rounded up (a due date 30 hours away is 2 days away).
pub fn days_between(from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    let seconds = (to - from).num_seconds();
    if seconds <= 0 {
        0
    } else {
        (seconds + 86_399) / 86_400
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 3, day)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    #[test]
    fn a_plan_runs_from_the_furthest_reminder_to_the_escalation() {
        let plan = ReminderPlan::new(&[1, 14, 7, 7, 0], 3);
        let stages: Vec<_> = (0..6).filter_map(|i| plan.stage(i)).collect();
        assert_eq!(
            stages,
            [
                Stage::DueSoon(14),
                Stage::DueSoon(7),
                Stage::DueSoon(1),
                Stage::Overdue,
                Stage::Escalation(3)
            ]
        );
    }

    #[test]
    fn passed_due_soon_reminders_are_skipped_but_overdue_is_not() {
        let plan = ReminderPlan::new(&[14, 7, 1], 3);
        let due = at(20);
        // Assigned on the 1st: the 14-day reminder on the 6th comes first.
        assert_eq!(
            plan.next(due, 0, at(1)),
            Some(Next {
                stage: 0,
                at: at(6)
            })
        );
        // Assigned on the 17th (3 days before): only the 1-day reminder is left.
        assert_eq!(
            plan.next(due, 0, at(17)),
            Some(Next {
                stage: 2,
                at: at(19)
            })
        );
        // Assigned after the due date: overdue at once (its time has passed).
        assert_eq!(
            plan.next(due, 0, at(21)),
            Some(Next {
                stage: 3,
                at: at(20)
            })
        );
        // After the overdue reminder: the escalation three days later; after it, nothing.
        assert_eq!(
            plan.next(due, 4, at(21)),
            Some(Next {
                stage: 4,
                at: at(23)
            })
        );
        assert_eq!(plan.next(due, 5, at(30)), None);
    }

    #[test]
    fn without_escalation_days_the_overdue_reminder_is_the_last() {
        let plan = ReminderPlan::new(&[7], 0);
        assert_eq!(plan.stage(1), Some(Stage::Overdue));
        assert_eq!(plan.stage(2), None);
    }

    #[test]
    fn days_are_rounded_up() {
        assert_eq!(days_between(at(1), at(1)), 0);
        assert_eq!(days_between(at(1), at(1) + Duration::hours(30)), 2);
        assert_eq!(days_between(at(2), at(1)), 0);
    }

    #[test]
    fn a_new_due_date_makes_new_reminders() {
        let stage = Stage::DueSoon(7);
        assert_ne!(stage.dedup_key("e1", at(20)), stage.dedup_key("e1", at(21)));
        assert_eq!(stage.dedup_key("e1", at(20)), stage.dedup_key("e1", at(20)));
    }
}
