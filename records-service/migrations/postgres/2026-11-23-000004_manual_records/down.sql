DROP TABLE manual_record_changes; DROP TABLE manual_records;
