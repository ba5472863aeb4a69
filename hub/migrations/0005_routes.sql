-- Routes and van loads (docs/hub/routes.md): a route is a driver, a weekday schedule and an ordered list of
-- cabinets; a van load is what went on the van for one departure of a route, frozen (by the driver's "load" or
-- at the cut-off), line by line, so the visit can be reconciled against it afterwards.

-- A stop's cabinet must be of the route's tenant: (id, tenant) is unique already (id is), said so a foreign
-- key can name both.
ALTER TABLE cabinets ADD CONSTRAINT cabinets_id_tenant UNIQUE (id, tenant);

CREATE TABLE routes (
    tenant hub_id NOT NULL REFERENCES tenants,
    id hub_id NOT NULL,
    name text NOT NULL,
    driver text,                                  -- the web user id of the route driver (null: none yet)
    weekdays smallint[] NOT NULL CHECK (cardinality(weekdays) >= 1 AND weekdays <@ '{1,2,3,4,5,6,7}'::smallint[]),
    depart time NOT NULL DEFAULT '07:00',         -- local time, in `timezone`
    cutoff_hours int NOT NULL DEFAULT 16 CHECK (cutoff_hours BETWEEN 0 AND 168),
    timezone text NOT NULL DEFAULT 'UTC',         -- an IANA name (Europe/Berlin)
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id));
CREATE INDEX routes_by_driver ON routes (tenant, driver);

CREATE TABLE route_stops (
    tenant hub_id NOT NULL,
    route hub_id NOT NULL,
    position int NOT NULL CHECK (position >= 1),  -- the order the van calls
    cabinet hub_id NOT NULL REFERENCES cabinets ON DELETE CASCADE,
    PRIMARY KEY (tenant, route, position),
    UNIQUE (tenant, route, cabinet),
    FOREIGN KEY (tenant, route) REFERENCES routes ON DELETE CASCADE,
    FOREIGN KEY (cabinet, tenant) REFERENCES cabinets (id, tenant));
CREATE INDEX route_stops_by_cabinet ON route_stops (cabinet);

-- One load per route departure: loading again returns the same load (ON CONFLICT), so two clicks, two hub
-- processes or the cut-off job racing the driver make one.
CREATE TABLE route_loads (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant hub_id NOT NULL,
    route hub_id NOT NULL,
    departure timestamptz NOT NULL,
    cutoff timestamptz NOT NULL,
    loaded_at timestamptz NOT NULL,               -- the hub's (injected) clock when it was frozen
    loaded_by text NOT NULL,                      -- a web user id, "cli", or "cut-off" (the scheduled job)
    notes jsonb NOT NULL DEFAULT '[]',            -- what the sheet said about its sources (no catalog, ...)
    UNIQUE (tenant, route, departure),
    FOREIGN KEY (tenant, route) REFERENCES routes ON DELETE CASCADE);

CREATE TABLE route_load_lines (
    load bigint NOT NULL REFERENCES route_loads ON DELETE CASCADE,
    line int NOT NULL,
    position int NOT NULL,                        -- the stop
    cabinet hub_id NOT NULL,
    site hub_id NOT NULL,
    location text NOT NULL,
    sku text NOT NULL,
    description text NOT NULL DEFAULT '',   -- the SKU's, from the cabinet's catalog
    kind text NOT NULL CHECK (kind IN ('task', 'top_off')),
    task_id bigint,                               -- the cabinet's refill task (kind task)
    units int NOT NULL CHECK (units > 0),         -- what the location needs
    pack int NOT NULL CHECK (pack >= 1),          -- units per pack
    packs int NOT NULL CHECK (packs >= 1),        -- whole packs on the van: units rounded up
    pack_source text NOT NULL,                    -- location refill_pack, sku package_size, none
    PRIMARY KEY (load, line));
