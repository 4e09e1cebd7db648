-- Claiming a notification checks the other jobs of its request (a
-- request's notifications run one at a time, oldest first).
CREATE INDEX jobs_request ON jobs (request_id, id) WHERE dead = 0;
