-- Desired state per cabinet (docs/hub.md "Running a site from the hub"): each version of the users and the
-- catalog the hub made for a cabinet, when it was published (and the envelope id, so the cabinet's
-- command_result can be matched), and what each cabinet reported: applied, or refused with the reason.
CREATE TABLE desired_docs (
    cabinet hub_id NOT NULL REFERENCES cabinets ON DELETE CASCADE,
    what text NOT NULL CHECK (what IN ('users', 'catalog')),
    version integer NOT NULL CHECK (version >= 1),
    body jsonb NOT NULL,                   -- without version: it is added when signed
    source text NOT NULL,                  -- the folder the CSV files came from
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    published_id text,                     -- the envelope id of the last publication
    PRIMARY KEY (cabinet, what, version));
CREATE INDEX desired_docs_by_envelope ON desired_docs (published_id);

CREATE TABLE desired_reports (
    cabinet hub_id NOT NULL,
    seq bigint NOT NULL,                   -- the event's seq
    what text NOT NULL,
    version integer,                       -- null: a refusal of an envelope this hub did not publish
    status text NOT NULL,                  -- applied, refused
    reason text,
    detail text,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cabinet, seq));
CREATE INDEX desired_reports_by_version ON desired_reports (cabinet, what, version);
