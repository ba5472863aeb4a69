"""The hub database's clock of receipt, on the pilot's virtual time.

The hub dates what it receives with PostgreSQL's now() (received_at DEFAULT now() on events, tx_rows,
inventory, status ...), and the hub's jobs count from there (an alert escalates N minutes after the hub knew
of it). In a pilot, 30 days pass in minutes: received_at must be the pilot's virtual time, or every alert
would be "known" months after the jobs' `now`. So the pilot's database gets, in a schema of its own, a clock
row and a BEFORE INSERT OR UPDATE trigger on each table with a received_at column that sets it (when an
insert or an update sets it) to the clock; the pilot
moves the clock to the end of each step before granting it (what the cabinets write in the step is known to
the hub at its end, as a hub that looks once a step would know it).

Only for a pilot's database: `locker-sim fleet --hub --db DSN` says so; a production hub keeps now()."""

SCHEMA = "pilot"


def install(conn, start):
    """Create the clock (at `start`) and the triggers; idempotent."""
    with conn.transaction():
        conn.execute("CREATE SCHEMA IF NOT EXISTS %s" % SCHEMA)
        conn.execute("CREATE TABLE IF NOT EXISTS %s.clock (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
                     "now timestamptz NOT NULL)" % SCHEMA)
        conn.execute("INSERT INTO %s.clock (now) VALUES (%%s) ON CONFLICT (one) DO UPDATE SET now = EXCLUDED.now"
                     % SCHEMA, [start])
        conn.execute("CREATE OR REPLACE FUNCTION %s.received_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "IF TG_OP = 'INSERT' OR NEW.received_at IS DISTINCT FROM OLD.received_at THEN "
                     "NEW.received_at := (SELECT now FROM %s.clock); END IF; RETURN NEW; END $$" % (SCHEMA, SCHEMA))
        tables = [r["table_name"] for r in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND "
            "column_name = 'received_at' ORDER BY table_name")]
        for table in tables:
            conn.execute("DROP TRIGGER IF EXISTS pilot_received_at ON public.%s" % table)
            conn.execute("CREATE TRIGGER pilot_received_at BEFORE INSERT OR UPDATE ON public.%s FOR EACH ROW "
                         "EXECUTE FUNCTION %s.received_at()" % (table, SCHEMA))
    return tables


def set_time(conn, now):
    with conn.transaction():
        conn.execute("UPDATE %s.clock SET now = %%s" % SCHEMA, [now])
