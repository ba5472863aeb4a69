-- Reorders to the ERP (docs/hub/orders.md, decision 0044): each site's reorder rule, the replenishment
-- orders per supplier and site with their lifecycle, the needs (cabinet locations) each order covers, who moved
-- an order and when, the tenant's ERP endpoint, and the outbox of webhook messages to it.

-- When a site's needs become an order: per_task (at once), daily (at `at` in `timezone`), cutoff (at the
-- cut-off of the next route visiting the site). last_run_at: the job's last batch for the site (the next
-- daily or cut-off moment after it is due). A site without a row is daily at 06:00 UTC (the job adds it).
CREATE TABLE site_order_rules (
    tenant hub_id NOT NULL,
    site hub_id NOT NULL,
    rule text NOT NULL DEFAULT 'daily' CHECK (rule IN ('per_task', 'daily', 'cutoff')),
    at time NOT NULL DEFAULT '06:00',
    timezone text NOT NULL DEFAULT 'UTC',
    last_run_at timestamptz NOT NULL,
    set_by text,                           -- null: the default, added by the job
    set_at timestamptz,
    PRIMARY KEY (tenant, site),
    FOREIGN KEY (tenant, site) REFERENCES sites ON DELETE CASCADE);

CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    tenant hub_id NOT NULL,
    site hub_id NOT NULL,
    supplier text NOT NULL,                -- the SKUs' supplier in the catalog, else the tenant's name
    state text NOT NULL DEFAULT 'proposed'
        CHECK (state IN ('proposed', 'sent', 'confirmed', 'delivered', 'cancelled')),
    rule text NOT NULL,                    -- the site's rule that proposed it
    proposed_at timestamptz NOT NULL,
    sent_at timestamptz,                   -- the ERP acknowledged the webhook (2xx)
    confirmed_at timestamptz,              -- the ERP confirmed it (signed API call), or by hand
    delivered_at timestamptz,              -- the cabinets' refill visits loaded every need, or marked by hand
    cancelled_at timestamptz,
    erp_ref text,                          -- the ERP's own number, given when it confirms
    currency text NOT NULL DEFAULT 'USD',
    FOREIGN KEY (tenant, site) REFERENCES sites);
CREATE INDEX orders_by_site ON orders (tenant, site, proposed_at);
CREATE INDEX orders_open ON orders (tenant, state) WHERE state IN ('proposed', 'sent', 'confirmed');

-- What is sent to the ERP: one line per SKU, in whole packs.
CREATE TABLE order_lines (
    order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    line integer NOT NULL CHECK (line >= 1),
    sku text NOT NULL,
    description text,
    category text,                         -- the catalog's, sent as the cXML Classification
    package_size integer NOT NULL CHECK (package_size >= 1),
    packs integer NOT NULL CHECK (packs >= 1),
    units integer NOT NULL CHECK (units = packs * package_size),
    unit_cost integer,                     -- cents per unit; null when the catalog does not say
    PRIMARY KEY (order_id, line),
    UNIQUE (order_id, sku));

-- What an order covers: one cabinet location each (its open refill task, if any). A location is on one open
-- order at most (the partial unique index: two hub processes proposing at once cannot both claim it).
-- seen_seq: the ledger seq as of which the need was seen (the snapshot's as_of_seq or the task's ledger_seq);
-- a later need at the location counts only with evidence at or past blocks_from (after a refill visit that
-- loaded it, or stock that moved after a cancellation).
CREATE TABLE order_needs (
    order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    cabinet hub_id NOT NULL,
    location text NOT NULL,
    sku text NOT NULL,
    task_id bigint,
    units integer NOT NULL CHECK (units >= 1),
    seen_seq bigint NOT NULL,
    loaded integer NOT NULL DEFAULT 0,     -- units the cabinets' refill visits loaded since
    open boolean NOT NULL DEFAULT true,
    blocks_from bigint NOT NULL,
    PRIMARY KEY (order_id, cabinet, location));
CREATE UNIQUE INDEX order_needs_one_open ON order_needs (cabinet, location) WHERE open;
CREATE INDEX order_needs_by_location ON order_needs (cabinet, location);

-- Every move of an order: from, to, when, by whom or what (a web user, cli, the ERP, a cabinet's visit, a job).
CREATE TABLE order_transitions (
    id bigserial PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    state_from text,
    state_to text NOT NULL,
    at timestamptz NOT NULL,
    by text NOT NULL,
    note text);
CREATE INDEX order_transitions_by_order ON order_transitions (order_id, id);

-- The tenant's ERP: where the webhook goes, the HMAC-SHA256 secret both sides hold, the body's format.
CREATE TABLE erp_endpoints (
    tenant hub_id PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    url text NOT NULL CHECK (url ~ '^https?://'),
    secret bytea NOT NULL CHECK (length(secret) >= 32),
    format text NOT NULL DEFAULT 'cxml' CHECK (format IN ('cxml', 'json')),
    currency text NOT NULL DEFAULT 'USD',
    updated_at timestamptz NOT NULL);

-- Messages to the ERP, written in the same transaction as the order's move; the outbox job posts them, oldest
-- first per order, retrying with exponential backoff; idempotency_key is sent as a header on every attempt.
CREATE TABLE order_outbox (
    id bigserial PRIMARY KEY,
    tenant hub_id NOT NULL,
    order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('new', 'cancel')),
    idempotency_key text NOT NULL UNIQUE,
    content_type text NOT NULL,
    body bytea NOT NULL,
    created_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_attempt_at timestamptz,
    last_error text,
    delivered_at timestamptz,
    UNIQUE (order_id, kind));
CREATE INDEX order_outbox_due ON order_outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- The events the order jobs read: refill tasks (open ones) and refill visits (what was loaded), by cabinet.
CREATE INDEX events_refill_tasks ON events (cabinet, ((body->>'task_id')))
    WHERE type IN ('refill_task_opened', 'refill_task_closed');
CREATE INDEX events_refill_visits ON events (cabinet, ((body->>'ledger_seq')::bigint)) WHERE type = 'refill_visit';
