//! Wire ↔ use-case conversions.

use lms_platform::AppError;
use lms_platform::resource::timestamp;
use lms_proto::notification_v1 as pb;

use crate::app::{NotificationView, Preferences, TemplateView};
use crate::domain::kind::Kind;

pub fn kind_to_pb(kind: Kind) -> pb::NotificationKind {
    match kind {
        Kind::Assigned => pb::NotificationKind::Assigned,
        Kind::DueSoon => pb::NotificationKind::DueSoon,
        Kind::Overdue => pb::NotificationKind::Overdue,
        Kind::Escalation => pb::NotificationKind::Escalation,
        Kind::Completed => pb::NotificationKind::Completed,
        Kind::CertificationIssued => pb::NotificationKind::CertificationIssued,
        Kind::CertificationExpiring => pb::NotificationKind::CertificationExpiring,
        Kind::WebhookDisabled => pb::NotificationKind::WebhookDisabled,
        Kind::EssayGraded => pb::NotificationKind::EssayGraded,
        Kind::CertificationExpired => pb::NotificationKind::CertificationExpired,
        Kind::SessionBooked => pb::NotificationKind::SessionBooked,
        Kind::SessionWaitlisted => pb::NotificationKind::SessionWaitlisted,
        Kind::SessionChanged => pb::NotificationKind::SessionChanged,
        Kind::SessionCancelled => pb::NotificationKind::SessionCancelled,
        Kind::BookingCancelled => pb::NotificationKind::BookingCancelled,
        Kind::SessionReminder => pb::NotificationKind::SessionReminder,
    }
}

/// The kind a request names; INVALID_ARGUMENT naming `field` otherwise.
pub fn kind_from_pb(field: &str, value: i32) -> Result<Kind, AppError> {
    Kind::ALL
        .iter()
        .copied()
        .find(|kind| kind_to_pb(*kind) as i32 == value)
        .ok_or_else(|| AppError::invalid_field(field, "name a notification kind"))
}

pub fn preferences(preferences: Preferences) -> pb::NotificationPreferences {
    pb::NotificationPreferences {
        muted: preferences
            .muted
            .into_iter()
            .map(|k| kind_to_pb(k) as i32)
            .collect(),
        digest: preferences.digest,
    }
}

pub fn notification(view: NotificationView) -> pb::Notification {
    let kind = view
        .kind
        .map_or(pb::NotificationKind::Unspecified, kind_to_pb);
    pb::Notification {
        id: view.id,
        kind: kind as i32,
        subject: view.subject,
        body: view.body,
        pathway_id: view.pathway_id,
        enrolment_id: view.enrolment_id,
        mandatory: view.mandatory,
        create_time: Some(timestamp(view.created_at)),
        read_time: view.read_at.map(timestamp),
    }
}

pub fn template(view: TemplateView) -> pb::Template {
    pb::Template {
        kind: kind_to_pb(view.kind) as i32,
        locale: view.locale,
        subject: view.text.subject,
        body: view.text.body,
        shipped: view.shipped,
        variables: view
            .kind
            .variables()
            .iter()
            .map(|v| v.to_string())
            .collect(),
        update_time: view.updated_at.map(timestamp),
    }
}

/// A BCP 47 tag as templates are keyed: `en`, `de-CH`, `zh-Hant-TW`.
pub fn valid_locale(locale: &str) -> bool {
    let mut parts = locale.split('-');
    let language = parts.next().unwrap_or_default();
    locale.len() <= 35
        && (2..=3).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_are_language_tags() {
        for good in ["en", "de-CH", "zh-Hant-TW"] {
            assert!(valid_locale(good), "{good}");
        }
        for bad in [
            "",
            "e",
            "german",
            "en_GB",
            "en-",
            "123",
            "de-CH-verylongsubtag",
        ] {
            assert!(!valid_locale(bad), "{bad}");
        }
    }

    #[test]
    fn every_kind_has_a_wire_value() {
        for kind in Kind::ALL {
            assert_eq!(
                kind_from_pb("kind", kind_to_pb(*kind) as i32).unwrap(),
                *kind
            );
        }
        assert!(kind_from_pb("kind", 0).is_err());
    }
}
