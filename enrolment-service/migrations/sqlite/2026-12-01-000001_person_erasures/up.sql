-- People erased on request (lms.privacy.v1.ErasePersonalData): not who they were — only a hash
-- of the tenant and their external id, so a second request for them is answered (erased
-- before, when) — and the pseudonym every service now calls them by.
CREATE TABLE person_erasures (
    tenant_id TEXT NOT NULL,
    person_hash TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    erased_at TIMESTAMP NOT NULL,
    erased_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, person_hash)
);
