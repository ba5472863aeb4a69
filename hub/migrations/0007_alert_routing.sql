-- Alerts that reach a person (docs/hub/alerts.md, decision 0045): the fleet's alerts in one table (the
-- cabinets' alert events, the hub's own alerts, a cabinet offline too long), the tenant's routing rules with
-- their escalation levels, and the mail outbox: one mail per (alert, recipient, level), ever.

CREATE TABLE fleet_alerts (
    id bigserial PRIMARY KEY,
    cabinet hub_id NOT NULL,
    source text NOT NULL CHECK (source IN ('cabinet', 'hub', 'offline')),
    ref text NOT NULL,                     -- cabinet: its alert_id; hub: alerts.id; offline: the status session
    kind text NOT NULL,
    location text,                         -- null: the cabinet as a whole
    detail text NOT NULL DEFAULT '',
    detail_seq bigint,                     -- the event that wrote detail: a late, older event never overwrites it
    raised_wall text,                      -- the cabinet's own clock at the raise (as sent), null for the hub's
    clock_synced boolean,
    known_at timestamptz NOT NULL,         -- when the hub first stored any of it: escalation counts from here
    cleared_at timestamptz,
    cleared_how text,                      -- condition, count, acknowledged (at the cabinet)
    cleared_by text,
    cleared_note text,
    site_ack_by text,                      -- acknowledged at the cabinet (alert_acknowledged): a supervisor saw it
    site_ack_note text,
    site_ack_at timestamptz,
    acked_by text,                         -- acknowledged on the hub (web or CLI): stops escalation
    acked_note text,
    acked_at timestamptz,
    UNIQUE (cabinet, source, ref));
CREATE INDEX fleet_alerts_open ON fleet_alerts (cabinet) WHERE cleared_at IS NULL;

-- One alert event applied to fleet_alerts, in any order (a batch's hole filled later): the first seen creates
-- the row, detail follows the highest seq that carries one, a clearing or acknowledgement is kept once.
-- Never fails on a strange body: it runs inside the ingest's transaction.
CREATE FUNCTION fleet_alert_apply(cab text, seq bigint, type text, e jsonb, received timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    words boolean := type IN ('alert_raised', 'alert_updated');
BEGIN
    INSERT INTO fleet_alerts AS f (cabinet, source, ref, kind, location, detail, detail_seq, raised_wall,
                                   clock_synced, known_at)
    VALUES (cab, 'cabinet', coalesce(e->>'alert_id', '?'), coalesce(e->>'kind', '?'), e->>'location',
            CASE WHEN words THEN coalesce(e->>'detail', '') ELSE '' END, CASE WHEN words THEN seq END,
            CASE WHEN type = 'alert_raised' THEN e->>'wall' END,
            CASE WHEN type = 'alert_raised' THEN (e->'clock_synced') = 'true'::jsonb END, received)
    ON CONFLICT (cabinet, source, ref) DO UPDATE SET
        detail = CASE WHEN EXCLUDED.detail_seq > coalesce(f.detail_seq, 0) THEN EXCLUDED.detail ELSE f.detail END,
        detail_seq = greatest(f.detail_seq, EXCLUDED.detail_seq),
        raised_wall = coalesce(f.raised_wall, EXCLUDED.raised_wall),
        clock_synced = coalesce(f.clock_synced, EXCLUDED.clock_synced),
        known_at = least(f.known_at, EXCLUDED.known_at);
    IF type = 'alert_acknowledged' OR (type = 'alert_cleared' AND e->>'how' = 'acknowledged') THEN
        UPDATE fleet_alerts SET site_ack_by = e->>'by', site_ack_note = e->>'note', site_ack_at = received
        WHERE cabinet = cab AND source = 'cabinet' AND ref = coalesce(e->>'alert_id', '?') AND site_ack_at IS NULL;
    END IF;
    IF type = 'alert_cleared' THEN
        UPDATE fleet_alerts SET cleared_at = received, cleared_how = e->>'how', cleared_by = e->>'by',
                                cleared_note = e->>'note'
        WHERE cabinet = cab AND source = 'cabinet' AND ref = coalesce(e->>'alert_id', '?') AND cleared_at IS NULL;
    END IF;
END $$;

CREATE FUNCTION fleet_alert_from_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fleet_alert_apply(NEW.cabinet, NEW.seq, NEW.type, NEW.body, NEW.received_at);
    RETURN NULL;
END $$;

-- Only for the rows the ingest really stores (ON CONFLICT DO NOTHING skips a resend: no trigger).
CREATE TRIGGER events_to_fleet_alerts AFTER INSERT ON events FOR EACH ROW
    WHEN (NEW.type IN ('alert_raised', 'alert_updated', 'alert_acknowledged', 'alert_cleared'))
    EXECUTE FUNCTION fleet_alert_from_event();

-- The hub's own alerts (a broken chain: chain_check.py) join them as they are raised and cleared.
CREATE FUNCTION fleet_alert_from_hub() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fleet_alerts AS f (cabinet, source, ref, kind, detail, known_at, cleared_at, cleared_how)
    VALUES (NEW.cabinet, 'hub', NEW.id::text, NEW.kind, NEW.detail, NEW.raised_at, NEW.cleared_at,
            CASE WHEN NEW.cleared_at IS NOT NULL THEN 'condition' END)
    ON CONFLICT (cabinet, source, ref) DO UPDATE SET detail = EXCLUDED.detail,
        cleared_at = coalesce(f.cleared_at, EXCLUDED.cleared_at), cleared_how = coalesce(f.cleared_how, EXCLUDED.cleared_how);
    RETURN NULL;
END $$;

CREATE TRIGGER alerts_to_fleet_alerts AFTER INSERT OR UPDATE ON alerts FOR EACH ROW
    EXECUTE FUNCTION fleet_alert_from_hub();

-- What a hub migrated with history already holds.
SELECT fleet_alert_apply(cabinet, seq, type, body, received_at) FROM events
WHERE type IN ('alert_raised', 'alert_updated', 'alert_acknowledged', 'alert_cleared') ORDER BY cabinet, seq;
INSERT INTO fleet_alerts (cabinet, source, ref, kind, detail, known_at, cleared_at, cleared_how)
SELECT cabinet, 'hub', id::text, kind, detail, raised_at, cleared_at, CASE WHEN cleared_at IS NOT NULL THEN 'condition' END
FROM alerts;

-- Who hears of what: the tenant's alerts of a site (or any), a supplier (or any), a kind (or any), at least a
-- severity. levels: [{"after_minutes": 0, "to": [...]}, {"after_minutes": 30, "to": [...]}, ...]: level n goes
-- out when the alert is still open and unacknowledged after_minutes after the hub first knew of it. A recipient
-- is an e-mail address or "user:<web user id>" (their e-mail of web_users).
CREATE TABLE alert_rules (
    id bigserial PRIMARY KEY,
    tenant hub_id NOT NULL REFERENCES tenants,
    site hub_id,
    supplier text,
    kind text,
    min_severity text NOT NULL CHECK (min_severity IN ('info', 'warning', 'critical')),
    levels jsonb NOT NULL CHECK (jsonb_typeof(levels) = 'array' AND jsonb_array_length(levels) >= 1),
    note text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant, site) REFERENCES sites);

-- The outbox: a row is the promise of one mail; its key makes a second one impossible, whoever runs the job.
CREATE TABLE alert_mail (
    alert bigint NOT NULL REFERENCES fleet_alerts ON DELETE CASCADE,
    recipient text NOT NULL,               -- the address, lower case
    level integer NOT NULL CHECK (level >= 0),
    rule bigint,                           -- the rule that asked for it (kept when the rule is removed)
    queued_at timestamptz NOT NULL,
    next_try_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    sent_at timestamptz,
    last_error text,
    cancelled_at timestamptz,              -- acknowledged or cleared before it could be sent
    cancelled_why text,
    PRIMARY KEY (alert, recipient, level));
CREATE INDEX alert_mail_due ON alert_mail (next_try_at) WHERE sent_at IS NULL AND cancelled_at IS NULL;
