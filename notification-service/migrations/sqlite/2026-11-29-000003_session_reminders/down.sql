DROP TABLE session_reminders;
