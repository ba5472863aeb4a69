"""What the hub holds about a cabinet, read back (tests, the CLI, reports), from PostgreSQL. Each function
takes a connection."""
import json


def rows(conn, cabinet):
    """The cabinet's transaction rows as received (every column, hashes as hex), in seq order."""
    return [dict(r["body"], seq=r["seq"], hash=r["hash"].hex(), prev_hash=r["prev_hash"].hex()) for r in conn.execute(
        "SELECT seq, hash, prev_hash, body FROM tx_rows WHERE cabinet = %s ORDER BY seq", [cabinet])]


def events(conn, cabinet):
    return [r["body"] for r in conn.execute("SELECT body FROM events WHERE cabinet = %s ORDER BY seq", [cabinet])]


def command_results(conn, cabinet):
    return conn.execute("SELECT * FROM command_results WHERE cabinet = %s ORDER BY seq", [cabinet]).fetchall()


def watermark(conn, cabinet, stream):
    """The highest seq up to which everything of the stream is stored (0 when nothing)."""
    found = conn.execute("SELECT watermark FROM streams WHERE cabinet = %s AND stream = %s", [cabinet, stream]).fetchone()
    return found["watermark"] if found else 0


def status(conn, cabinet):
    """The latest status: cabinet, state, session, sent_wall (also as `wall`), clock_synced, received_at."""
    found = conn.execute("SELECT * FROM status WHERE cabinet = %s", [cabinet]).fetchone()
    return None if found is None else dict(found, wall=found["sent_wall"])


def birth(conn, cabinet):
    """The latest birth (the highest session) as received, or None."""
    found = conn.execute("SELECT body FROM births WHERE cabinet = %s ORDER BY session DESC LIMIT 1", [cabinet]).fetchone()
    return found["body"] if found else None


def inventory(conn, cabinet):
    found = conn.execute("SELECT body FROM inventory WHERE cabinet = %s", [cabinet]).fetchone()
    return found["body"] if found else None


def chain_breaks(conn, cabinet=None):
    return conn.execute("SELECT * FROM chain_breaks WHERE %s::text IS NULL OR cabinet = %s ORDER BY cabinet, seq",
                        [cabinet, cabinet]).fetchall()


def alerts(conn, cabinet=None):
    """Open alerts of the hub's own (chain_break), oldest first."""
    return conn.execute("SELECT * FROM alerts WHERE cleared_at IS NULL AND (%s::text IS NULL OR cabinet = %s) "
                        "ORDER BY id", [cabinet, cabinet]).fetchall()


def rejected(conn):
    return conn.execute("SELECT * FROM rejected ORDER BY id").fetchall()


def where(conn, cabinet):
    """(tenant, site, command key) of a registered cabinet; LookupError if it is not registered."""
    found = conn.execute("SELECT tenant, site, command_key FROM cabinets WHERE id = %s", [cabinet]).fetchone()
    if found is None:
        raise LookupError("cabinet %r is not registered in this hub" % cabinet)
    return found["tenant"], found["site"], bytes(found["command_key"])


def record_sent(conn, env):
    """Keep what was signed and sent down, so its command_result can be matched to it."""
    conn.execute("INSERT INTO commands_sent (id, cabinet, type, body, issued_at, expires_at) VALUES "
                 "(%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                 [env["id"], env["cabinet"], env["type"], json.dumps(env["body"]), env["issued"], env["expires"]])
