-- Approval policies: each approver's approval of a request, and one
-- message reference per recipient (every approver's DM is kept, so each
-- is updated when someone decides).

-- One row per (request, approver): the same approver clicking twice
-- counts once. Counted under the request's write lock, so the approval
-- that completes a request is decided exactly once.
CREATE TABLE approvals (
    request_id     TEXT    NOT NULL REFERENCES requests (id),
    approver       TEXT    NOT NULL,                -- Slack user ID
    approver_email TEXT,
    at             INTEGER NOT NULL,
    duration_secs  INTEGER CHECK (duration_secs >= 0), -- a shorter duration chosen; NULL: as asked
    PRIMARY KEY (request_id, approver)
);

-- SQLite cannot change a primary key in place: the table is rebuilt
-- (nothing references it). `recipient` is the approver a DM went to, ''
-- for the one message of its kind; `approval_post` is the request in the
-- profile's approval channel.
CREATE TABLE message_refs_new (
    request_id TEXT NOT NULL REFERENCES requests (id),
    kind       TEXT NOT NULL CHECK (kind IN ('approver_dm', 'requester_dm', 'channel_post',
                   'approval_post')),
    recipient  TEXT NOT NULL DEFAULT '',
    channel    TEXT NOT NULL,
    ts         TEXT NOT NULL,
    PRIMARY KEY (request_id, kind, recipient)
);

INSERT INTO message_refs_new (request_id, kind, channel, ts)
    SELECT request_id, kind, channel, ts FROM message_refs;
DROP TABLE message_refs;
ALTER TABLE message_refs_new RENAME TO message_refs;
