DROP TABLE outbox_routes;
