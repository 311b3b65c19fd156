DROP TABLE attendance_marks;
DROP TABLE session_bookings;
DROP TABLE session_instructors;
DROP TABLE training_sessions;
