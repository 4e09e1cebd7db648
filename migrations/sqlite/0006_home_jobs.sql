-- App Home refreshes are queued per person, not per request: a job may
-- carry a coalescing key (`home:U…`).
ALTER TABLE jobs ADD COLUMN coalesce_key TEXT;

-- At most one job of a key waits (not running, not dead): enqueueing
-- another adds nothing (INSERT … ON CONFLICT DO NOTHING), so a burst of
-- changes publishes a person's home once, on any number of replicas.
CREATE UNIQUE INDEX jobs_waiting_key ON jobs (coalesce_key)
    WHERE coalesce_key IS NOT NULL AND dead = 0 AND leased_by IS NULL;
-- Claiming checks that no other job of the key runs (one at a time).
CREATE INDEX jobs_coalesce_key ON jobs (coalesce_key, id)
    WHERE coalesce_key IS NOT NULL AND dead = 0;

-- The grants an approver decided that are still live (App Home).
CREATE INDEX requests_decided_by ON requests (decided_by, status, created_at);
