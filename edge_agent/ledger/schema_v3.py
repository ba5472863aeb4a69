"""Schema version 3: the ledger side of cloud sync (docs/mqtt.md, edge_agent/cloud/outbox.py).

- `cloud_state`, one row: the session counter raised on every broker connection, the cloud's acks of the
  two durable streams ("tx" is the transactions table itself, "events" is `outbox_events`), the desired
  state versions applied and the settings the cloud pushed (JSON).
- `outbox_events`: the events stream. `seq` is AUTOINCREMENT so a seq is never handed out twice, even after
  acknowledged events are pruned: the stream's persisted, contiguous per-cabinet sequence.
- Triggers write the alert and refill-task events into the outbox in the same SQLite transaction (the same
  statement, even) as the change they report, whoever makes it (alerts.py, minmax.py, an operator with the
  sqlite3 CLI): the event and what it reports land together, or neither does.
  An event's `clock_synced` is that of the transaction it came with (raised_seq, cleared_seq, opened_seq,
  closed_seq); an alert raised with no transaction (seq NULL) takes the latest transaction's, and 0 when the
  ledger has none.
- `commands_seen`: the ids of signed commands already received, so a replay is refused across restarts.

Existing ledgers are not back-filled: alerts and tasks raised before this version produce no events (the
cloud learns the state from the transactions, which are all unsynced, and from later events). `cloud_state`
starts with both acks at 0: nothing was ever acknowledged, so everything is sent.
"""


def clock_synced_of(seq_expr):
    """The clock_synced of transaction `seq_expr`, else of the latest transaction, else 0."""
    return ("coalesce((SELECT clock_synced FROM transactions WHERE seq = %s), "
            "(SELECT clock_synced FROM transactions ORDER BY seq DESC LIMIT 1), 0)" % seq_expr)


def event_trigger(name, timing, when, type_, wall, seq, body):
    return ("CREATE TRIGGER %s %s%s BEGIN "
            "INSERT INTO outbox_events (type, wall, clock_synced, ledger_seq, body) "
            "VALUES ('%s', %s, %s, %s, json_object(%s)); END"
            % (name, timing, (" WHEN " + when) if when else "", type_, wall, clock_synced_of(seq), seq, body))


STATEMENTS = [
    """CREATE TABLE cloud_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        session INTEGER NOT NULL DEFAULT 0 CHECK (typeof(session) = 'integer' AND session >= 0),
        tx_acked INTEGER NOT NULL DEFAULT 0 CHECK (typeof(tx_acked) = 'integer' AND tx_acked >= 0),
        events_acked INTEGER NOT NULL DEFAULT 0 CHECK (typeof(events_acked) = 'integer' AND events_acked >= 0),
        users_version INTEGER CHECK (users_version IS NULL OR typeof(users_version) = 'integer'),
        catalog_version INTEGER CHECK (catalog_version IS NULL OR typeof(catalog_version) = 'integer'),
        settings TEXT CHECK (settings IS NULL OR json_valid(settings))
    )""",
    "INSERT INTO cloud_state (id) VALUES (1)",
    """CREATE TABLE outbox_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL CHECK (length(type) > 0),
        wall TEXT NOT NULL,
        clock_synced INTEGER NOT NULL CHECK (clock_synced IN (0, 1)),
        ledger_seq INTEGER CHECK (ledger_seq IS NULL OR typeof(ledger_seq) = 'integer'),
        body TEXT NOT NULL CHECK (json_valid(body))
    )""",
    """CREATE TABLE commands_seen (
        id TEXT PRIMARY KEY CHECK (length(id) > 0),
        type TEXT,
        received_wall TEXT,
        expires TEXT,
        status TEXT
    )""",
    event_trigger("outbox_alert_raised", "AFTER INSERT ON alerts", None, "alert_raised",
                   "NEW.raised_wall", "NEW.raised_seq",
                   "'alert_id', NEW.id, 'location', NEW.location, 'kind', NEW.kind, 'detail', NEW.detail"),
    event_trigger("outbox_alert_cleared", "AFTER UPDATE OF cleared_wall ON alerts",
                   "OLD.cleared_wall IS NULL AND NEW.cleared_wall IS NOT NULL", "alert_cleared",
                   "NEW.cleared_wall", "NEW.cleared_seq",
                   "'alert_id', NEW.id, 'location', NEW.location, 'kind', NEW.kind"),
    event_trigger("outbox_refill_task_opened", "AFTER INSERT ON refill_tasks", None, "refill_task_opened",
                   "NEW.opened_wall", "NEW.opened_seq",
                   "'task_id', NEW.id, 'location', NEW.location, 'sku', NEW.sku, 'quantity', NEW.quantity"),
    event_trigger("outbox_refill_task_closed", "AFTER UPDATE OF closed_seq ON refill_tasks",
                   "OLD.closed_seq IS NULL AND NEW.closed_seq IS NOT NULL", "refill_task_closed",
                   # closed_wall is set in the same UPDATE as closed_seq (minmax.py); NOT NULL in the outbox
                   "coalesce(NEW.closed_wall, NEW.opened_wall)", "NEW.closed_seq",
                   "'task_id', NEW.id, 'location', NEW.location, 'sku', NEW.sku"),
]
