-- The decider's e-mail, kept at decision time (for the attribute's comment).
ALTER TABLE requests ADD COLUMN decided_by_email TEXT;

-- `revoking`: a Revoke waiting for Tailscale's confirmation.
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN ('pending', 'approved',
    'active', 'expired', 'revoking', 'revoked', 'denied', 'cancelled', 'timed_out', 'failed'));

-- One writer per (device, attribute key): a lease with a fencing token.
-- The holder that took it last owns the pair until `lease_until`; a
-- holder whose token is no longer the row's has lost it.
CREATE TABLE attribute_locks (
    name        TEXT        PRIMARY KEY,            -- nodeId/custom:key (lower case)
    holder      TEXT        NOT NULL,
    token       BIGINT      NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL
);
