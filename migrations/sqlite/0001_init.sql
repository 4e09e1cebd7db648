-- accessbot schema, SQLite flavour.
--
-- Every time is INTEGER microseconds since the Unix epoch (UTC): integers
-- compare and sort correctly, unlike variable-precision text. JSON columns
-- hold serde_json text. Booleans are 0/1.

CREATE TABLE requests (
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
                        'revoked', 'denied', 'cancelled', 'timed_out', 'failed')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    decided_by      TEXT,
    decided_at      INTEGER,
    expires_at      INTEGER,
    failure_reason  TEXT
);

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

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,   -- insertion order breaks ties of `at`
    request_id TEXT    NOT NULL REFERENCES requests (id),
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,                    -- Slack user ID or 'system'
    action     TEXT    NOT NULL,                    -- 'created', a status, 'notified', …
    detail     TEXT    NOT NULL                     -- JSON
);

-- A request's trail, oldest first.
CREATE INDEX audit_events_request ON audit_events (request_id, at, id);

CREATE TABLE message_refs (
    request_id TEXT NOT NULL REFERENCES requests (id),
    kind       TEXT NOT NULL CHECK (kind IN ('approver_dm', 'requester_dm', 'channel_post')),
    channel    TEXT NOT NULL,
    ts         TEXT NOT NULL,
    PRIMARY KEY (request_id, kind)
);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT    REFERENCES requests (id),
    kind        TEXT    NOT NULL,                   -- 'grant', 'revoke', 'notify' (for people reading the table)
    payload     TEXT    NOT NULL,                   -- JSON JobKind, what the worker decodes
    run_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    leased_by   TEXT,
    lease_until INTEGER,
    dead        INTEGER NOT NULL DEFAULT 0 CHECK (dead IN (0, 1))
);

-- Due jobs, oldest first: what every worker round claims (queries say `dead = 0`
-- literally so the planner can use this partial index).
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE dead = 0;
-- The dead-job gauge, counted every round without scanning live jobs.
CREATE INDEX jobs_dead ON jobs (id) WHERE dead = 1;
