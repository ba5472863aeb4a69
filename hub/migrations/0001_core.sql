-- The hub's core: who the cabinets are, and what they send (docs/mqtt.md), stored once per (cabinet, seq).
-- Ids follow the contract's topics: [A-Za-z0-9_-]{1,64}. A cabinet id is unique across the whole broker (it is
-- the cabinet's MQTT user and client id), so cabinet-level tables are keyed by it alone.

CREATE DOMAIN hub_id AS text CHECK (VALUE ~ '^[A-Za-z0-9_-]{1,64}$');

CREATE TABLE tenants (
    id hub_id PRIMARY KEY,                 -- a supplier running its managed-inventory program on this hub
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE sites (
    tenant hub_id NOT NULL REFERENCES tenants,
    id hub_id NOT NULL,                    -- a customer's site where the supplier's cabinets stand
    name text NOT NULL,
    customer text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id));

CREATE TABLE cabinets (
    id hub_id PRIMARY KEY,
    tenant hub_id NOT NULL,
    site hub_id NOT NULL,
    command_key bytea NOT NULL CHECK (length(command_key) = 32),   -- signs every down message (HMAC-SHA256)
    registered_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant, site) REFERENCES sites);

-- Per cabinet and stream: base (nothing at or below is expected: the first birth's acked), watermark
-- (everything from base + 1 to here is stored), head (the highest seq the cabinet said it holds). progress_at
-- and last_resend_at (the workers' clock, epoch seconds) drive the grace period before a resend; any worker
-- may send it, the row lock makes it one.
CREATE TABLE streams (
    cabinet hub_id NOT NULL REFERENCES cabinets ON DELETE CASCADE,
    stream text NOT NULL CHECK (stream IN ('tx', 'events')),
    base bigint NOT NULL,
    watermark bigint NOT NULL,
    head bigint NOT NULL,
    progress_at double precision NOT NULL,
    last_resend_at double precision,
    PRIMARY KEY (cabinet, stream));

-- The ledger's transaction rows: the row as received without seq, hash and prev_hash (their own columns,
-- hashes as 32 bytes): the chain is checked on insert and kept as evidence.
CREATE TABLE tx_rows (
    cabinet hub_id NOT NULL,
    seq bigint NOT NULL CHECK (seq > 0),
    hash bytea NOT NULL,
    prev_hash bytea NOT NULL,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cabinet, seq));

CREATE TABLE events (
    cabinet hub_id NOT NULL,
    seq bigint NOT NULL CHECK (seq > 0),
    type text NOT NULL,
    body jsonb NOT NULL,                   -- the event as received
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cabinet, seq));

CREATE TABLE command_results (
    cabinet hub_id NOT NULL,
    seq bigint NOT NULL,                   -- the event's seq
    command_id text,
    command_type text,
    status text NOT NULL,
    reason text,
    detail text,
    PRIMARY KEY (cabinet, seq));
CREATE INDEX command_results_by_id ON command_results (command_id);

-- What the hub signed and sent down (commands and desired state), so a result can be matched to it.
CREATE TABLE commands_sent (
    id text PRIMARY KEY,
    cabinet hub_id NOT NULL,
    type text NOT NULL,
    body jsonb NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL);
CREATE INDEX commands_sent_by_cabinet ON commands_sent (cabinet, issued_at);

CREATE TABLE status (
    cabinet hub_id PRIMARY KEY,
    state text NOT NULL CHECK (state IN ('online', 'offline')),
    session bigint NOT NULL,
    sent_wall text NOT NULL,
    clock_synced boolean NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE births (
    cabinet hub_id NOT NULL,
    session bigint NOT NULL,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cabinet, session));

CREATE TABLE inventory (
    cabinet hub_id PRIMARY KEY,
    session bigint NOT NULL,
    as_of_seq bigint NOT NULL,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE chain_breaks (
    cabinet hub_id NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL,
    detail text NOT NULL,
    found_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cabinet, seq, kind));

-- The hub's own alerts about a cabinet (a broken chain); the cabinets' alerts arrive as events.
CREATE TABLE alerts (
    id bigserial PRIMARY KEY,
    cabinet hub_id NOT NULL,
    kind text NOT NULL,
    detail text NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now(),
    cleared_at timestamptz);
CREATE UNIQUE INDEX alerts_one_open ON alerts (cabinet, kind) WHERE cleared_at IS NULL;

-- Up messages that were not applied, with why (capped: the payload is kept to its first 64 KiB).
CREATE TABLE rejected (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    cabinet text,
    reason text NOT NULL,
    payload text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now());
