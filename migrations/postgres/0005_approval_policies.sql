-- Approval policies: each approver's approval of a request, and one
-- message reference per recipient (every approver's DM is kept, so each
-- is updated when someone decides).

-- One row per (request, approver): the same approver clicking twice
-- counts once. Counted under the request's row lock, so the approval
-- that completes a request is decided exactly once across replicas.
CREATE TABLE approvals (
    request_id     UUID        NOT NULL REFERENCES requests (id),
    approver       TEXT        NOT NULL,            -- Slack user ID
    approver_email TEXT,
    at             TIMESTAMPTZ NOT NULL,
    duration_secs  BIGINT      CHECK (duration_secs >= 0), -- a shorter duration chosen; NULL: as asked
    PRIMARY KEY (request_id, approver)
);

-- `recipient` is the approver a DM went to, '' for the one message of its
-- kind; `approval_post` is the request in the profile's approval channel.
ALTER TABLE message_refs ADD COLUMN recipient TEXT NOT NULL DEFAULT '';
ALTER TABLE message_refs DROP CONSTRAINT message_refs_pkey;
ALTER TABLE message_refs ADD PRIMARY KEY (request_id, kind, recipient);
ALTER TABLE message_refs DROP CONSTRAINT message_refs_kind_check;
ALTER TABLE message_refs ADD CONSTRAINT message_refs_kind_check CHECK (kind IN ('approver_dm',
    'requester_dm', 'channel_post', 'approval_post'));
