DROP TABLE xapi_backfill;
