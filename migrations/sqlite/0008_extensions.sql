-- no-transaction
-- Extending an active grant: a request to extend a grant names it
-- (`extends`), and once approved and applied ends `extended`. SQLite
-- cannot change a CHECK constraint in place: `requests` is rebuilt
-- (SQLite's documented procedure), with foreign keys off while the table
-- is swapped, in one transaction.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE requests_new (
    id              TEXT    PRIMARY KEY NOT NULL,   -- UUIDv7, lower-case hyphenated
    requester       TEXT    NOT NULL,               -- Slack user ID
    requester_email TEXT,
    attribute       TEXT    NOT NULL,               -- custom:* key at request time
    value           TEXT    NOT NULL,               -- JSON: bool, integer or string
    node_id         TEXT    NOT NULL,               -- device.node_id, a column for lookups
    device          TEXT    NOT NULL,               -- JSON DeviceSnapshot shown to the approver
    duration_secs   INTEGER NOT NULL CHECK (duration_secs >= 0),
    approver        TEXT,                           -- NULL: no approval needed
    reason          TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'active', 'expired',
                        'revoking', 'revoked', 'denied', 'cancelled', 'timed_out', 'failed',
                        'extended')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    decided_by      TEXT,
    decided_at      INTEGER,
    expires_at      INTEGER,
    failure_reason  TEXT,
    decided_by_email TEXT,
    extends         TEXT    REFERENCES requests (id) -- the grant a request to extend names
);

INSERT INTO requests_new (id, requester, requester_email, attribute, value, node_id, device, duration_secs, approver, reason, status, created_at, updated_at, decided_by, decided_at, expires_at, failure_reason, decided_by_email)
    SELECT id, requester, requester_email, attribute, value, node_id, device, duration_secs, approver, reason, status, created_at, updated_at, decided_by, decided_at, expires_at, failure_reason, decided_by_email FROM requests;
DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;

-- Expiry sweep (status = 'active' AND expires_at <= now) and the active-grant gauge.
CREATE INDEX requests_status_expires_at ON requests (status, expires_at);
-- Pending timeout (status = 'pending' AND created_at <= cutoff) and status listings.
CREATE INDEX requests_status_created_at ON requests (status, created_at);
-- A person's recent requests (App Home), newest first.
CREATE INDEX requests_requester ON requests (requester, created_at, id);
-- Requests waiting on / decided by an approver, newest first.
CREATE INDEX requests_approver ON requests (approver, created_at, id);
-- Other active grants of the same attribute on the same device (grant, revoke).
CREATE INDEX requests_device_attribute ON requests (node_id, attribute, status);
-- Unfiltered listings and audit export since a time, newest first.
CREATE INDEX requests_created_at ON requests (created_at, id);
-- The grants an approver decided that are still live (App Home).
CREATE INDEX requests_decided_by ON requests (decided_by, status, created_at);
-- The requests to extend a grant (one waiting at a time).
CREATE INDEX requests_extends ON requests (extends) WHERE extends IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
