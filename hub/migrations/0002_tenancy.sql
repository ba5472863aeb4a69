-- Tenancy and registration (docs/hub.md "Tenants, sites and cabinet registration"): what `locker-agent
-- register` sent (the CSR), what the hub gave back (the certificate signed with the supplier's CA), and the
-- cabinet's broker password as the hash Mosquitto's password file holds (never the password itself).

ALTER TABLE cabinets
    ADD COLUMN csr text,                          -- PEM, CN = the cabinet id
    ADD COLUMN certificate text,                  -- PEM, signed with the CA in hub_settings 'ca_certificate'
    ADD COLUMN broker_hash text CHECK (broker_hash ~ '^\$7\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$');

-- The broker's other users: the hub's workers (each process its own user: a client id is its user name).
CREATE TABLE broker_users (
    name hub_id PRIMARY KEY,
    broker_hash text NOT NULL CHECK (broker_hash ~ '^\$7\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$'),
    created_at timestamptz NOT NULL DEFAULT now());

-- The hub's own settings, one text value each (e.g. ca_certificate: the supplier CA's PEM, recorded at the
-- first signing so that a later one with another CA is refused).
CREATE TABLE hub_settings (
    name text PRIMARY KEY,
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
