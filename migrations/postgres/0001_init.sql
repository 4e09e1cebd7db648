-- accessbot schema, PostgreSQL flavour (same tables, columns and indexes as
-- the SQLite one; native UUID, TIMESTAMPTZ, JSONB and BOOLEAN types).

CREATE TABLE requests (
    id              UUID        PRIMARY KEY,        -- UUIDv7
    requester       TEXT        NOT NULL,           -- Slack user ID
    requester_email TEXT,
    attribute       TEXT        NOT NULL,           -- custom:* key at request time
    value           JSONB       NOT NULL,           -- bool, integer or string
    node_id         TEXT        NOT NULL,           -- device.node_id, a column for lookups
    device          JSONB       NOT NULL,           -- DeviceSnapshot shown to the approver
    duration_secs   BIGINT      NOT NULL CHECK (duration_secs >= 0),
    approver        TEXT,                           -- NULL: no approval needed
    reason          TEXT        NOT NULL,
    status          TEXT        NOT NULL CHECK (status IN ('pending', 'approved', 'active', 'expired',
                        'revoked', 'denied', 'cancelled', 'timed_out', 'failed')),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    decided_by      TEXT,
    decided_at      TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ,
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
    id         BIGSERIAL   PRIMARY KEY,             -- insertion order breaks ties of `at`
    request_id UUID        NOT NULL REFERENCES requests (id),
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT        NOT NULL,                -- Slack user ID or 'system'
    action     TEXT        NOT NULL,                -- 'created', a status, 'notified', …
    detail     JSONB       NOT NULL
);

-- A request's trail, oldest first.
CREATE INDEX audit_events_request ON audit_events (request_id, at, id);

CREATE TABLE message_refs (
    request_id UUID NOT NULL REFERENCES requests (id),
    kind       TEXT NOT NULL CHECK (kind IN ('approver_dm', 'requester_dm', 'channel_post')),
    channel    TEXT NOT NULL,
    ts         TEXT NOT NULL,
    PRIMARY KEY (request_id, kind)
);

CREATE TABLE jobs (
    id          BIGSERIAL   PRIMARY KEY,
    request_id  UUID        REFERENCES requests (id),
    kind        TEXT        NOT NULL,               -- 'grant', 'revoke', 'notify' (for people reading the table)
    payload     JSONB       NOT NULL,               -- JobKind, what the worker decodes
    run_at      TIMESTAMPTZ NOT NULL,
    attempts    INTEGER     NOT NULL DEFAULT 0,
    last_error  TEXT,
    leased_by   TEXT,
    lease_until TIMESTAMPTZ,
    dead        BOOLEAN     NOT NULL DEFAULT FALSE
);

-- Due jobs, oldest first: what every worker round claims (FOR UPDATE SKIP LOCKED).
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE NOT dead;
-- The dead-job gauge, counted every round without scanning live jobs.
CREATE INDEX jobs_dead ON jobs (id) WHERE dead;
