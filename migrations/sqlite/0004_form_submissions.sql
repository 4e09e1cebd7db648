-- Form submissions turned into a request, by the modal's view ID: a
-- submission delivered twice (a Socket Mode redelivery, a replayed signed
-- request) creates one request, on any replica. Written in the request's
-- own transaction, before the request (hence the deferred key).
CREATE TABLE form_submissions (
    view_id    TEXT    PRIMARY KEY NOT NULL,    -- Slack's view ID (V…)
    request_id TEXT    NOT NULL REFERENCES requests (id) DEFERRABLE INITIALLY DEFERRED,
    at         INTEGER NOT NULL
);
