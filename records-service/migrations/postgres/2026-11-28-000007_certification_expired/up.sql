-- When the certification scheduler announced that a certification expired (its expiry date
-- passed without a newer cycle); each is announced once. The partial index holds only the
-- certifications still to announce.
ALTER TABLE certifications ADD COLUMN expired_announced_at TIMESTAMP NULL;
CREATE INDEX certifications_to_expire ON certifications (expires_at)
    WHERE expired_announced_at IS NULL AND revoked_at IS NULL AND expires_at IS NOT NULL;
