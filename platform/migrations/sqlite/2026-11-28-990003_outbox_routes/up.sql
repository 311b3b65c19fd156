-- Where this service's events go (DESIGN §2): one row per destination and event type it
-- subscribes to ('*': every type). The delivering dispatcher writes them when it takes the lead;
-- `enqueue` reads them and queues each new event for its destinations in the transaction that
-- writes it, so a burst of events needs no separate queuing pass and no second write of each
-- event row. Empty until a dispatcher has led: events written before wait for its queuing pass.
CREATE TABLE outbox_routes (
    destination TEXT NOT NULL,
    type_url    TEXT NOT NULL,
    PRIMARY KEY (destination, type_url)
);
