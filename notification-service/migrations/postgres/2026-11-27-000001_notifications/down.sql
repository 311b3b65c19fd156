DROP TABLE notification_preferences;
DROP TABLE notification_templates;
DROP TABLE notifications;
DROP TABLE tracked_enrolments;
