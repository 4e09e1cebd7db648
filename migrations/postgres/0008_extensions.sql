-- Extending an active grant: a request to extend a grant names it
-- (`extends`), and once approved and applied ends `extended`.
ALTER TABLE requests ADD COLUMN extends UUID REFERENCES requests (id);

ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN ('pending', 'approved',
    'active', 'expired', 'revoking', 'revoked', 'denied', 'cancelled', 'timed_out', 'failed',
    'extended'));

-- The requests to extend a grant (one waiting at a time).
CREATE INDEX requests_extends ON requests (extends) WHERE extends IS NOT NULL;
