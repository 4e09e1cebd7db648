-- App Home refreshes are queued per person, not per request: a job may
-- carry a coalescing key (`home:U…`), and at most one job waits per key,
-- so a burst of changes publishes a person's home once.
ALTER TABLE jobs ADD COLUMN coalesce_key TEXT;

-- Enqueueing looks for a waiting job of the key; claiming checks that no
-- other job of the key runs (one publish per person at a time).
CREATE INDEX jobs_coalesce_key ON jobs (coalesce_key, id) WHERE coalesce_key IS NOT NULL AND dead = 0;

-- The grants an approver decided that are still live (App Home).
CREATE INDEX requests_decided_by ON requests (decided_by, status, created_at);
