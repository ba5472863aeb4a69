-- The hub's web app (docs/hub/web.md, decision 0042): the people who sign in, with one role at one tenant, and
-- their sessions. A customer role names its customer (sites.customer); a supplier role names none.

CREATE TABLE web_users (
    id text PRIMARY KEY CHECK (id ~ '^[^\s]{1,254}$'),     -- how they sign in: usually an e-mail address
    tenant hub_id NOT NULL REFERENCES tenants,
    role text NOT NULL CHECK (role IN ('supplier_admin', 'route_driver', 'customer_admin', 'customer_viewer')),
    customer text,
    name text NOT NULL,
    email text,                                           -- where the hub's mail for them goes (alerts)
    password_hash text NOT NULL,
    failed_logins int NOT NULL DEFAULT 0,
    locked_until timestamptz,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((role LIKE 'customer_%') = (customer IS NOT NULL AND customer <> '')));

-- A signed-in browser: the cookie holds a random token, the table only its sha256 (a copy of the table signs
-- nobody in). Ended by signing out, by expiry on the hub's clock, or by the user being disabled.
CREATE TABLE web_sessions (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id text NOT NULL REFERENCES web_users ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL);
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
