"""Schema version 7: stock a supplier can bill on, and alerts with an end (issue 15).

- `locations.capacity`: how many units the location physically holds (a spiral's pitches, a door's hooks, a
  bin's volume); NULL while nobody has said. A max above it is refused where it is set (imports, desired
  catalog) and recommendations stay within it.
- Alerts get an end a person can give: `acked_wall`, `acked_by`, `ack_note` (a supervisor acknowledged it,
  with a note) and `cleared_how` (how it ended: 'condition' when what raised it is over, 'count' when a count
  settled it, 'acknowledged' when a supervisor ended it). Outbox events: `alert_acknowledged`, and
  `alert_updated` when an open alert's words change (the text stays current at the cloud too);
  `alert_cleared` now says how it ended.
- `count_tasks`: "count this location" for a driver or a supervisor (a lane suspected empty after repeated
  no-drops, an outcome nobody can know); at most one open per location; a count closes it. Outbox events
  `count_task_opened` / `count_task_closed`, written by triggers like the refill tasks'.
- `charge_lists`: the site's lists of what a take may be charged to: cost centers, machines, and work-order
  patterns (list 'work_order' holds patterns, not numbers).
- `refill_visits`: one route driver's visit, from the pick list to the end, with its summary (JSON: what
  was loaded, counted, and the differences); the outbox event `refill_visit` is written when it closes.
- `open_bin_takes`: a weigh-bin take in progress (who, what for, the weight before), so a take cut short
  by a crash is charged to the person on record when the agent starts again; one per bin.
- `open_intents`: the seqs of intents with no outcome yet, kept by triggers on the transactions table, so
  start-up recovery reads what is pending from an index instead of scanning every intent.
"""
from edge_agent.ledger.schema_v3 import event_trigger

_TASK = "'task_id', NEW.id, 'location', NEW.location, 'reason', NEW.reason"

STATEMENTS = [
    "ALTER TABLE locations ADD COLUMN capacity INTEGER "
    "CHECK (capacity IS NULL OR (typeof(capacity) = 'integer' AND capacity >= 1))",
    "ALTER TABLE alerts ADD COLUMN acked_wall TEXT",
    "ALTER TABLE alerts ADD COLUMN acked_by TEXT",
    "ALTER TABLE alerts ADD COLUMN ack_note TEXT",
    "ALTER TABLE alerts ADD COLUMN cleared_how TEXT "
    "CHECK (cleared_how IS NULL OR cleared_how IN ('condition', 'count', 'acknowledged'))",
    "DROP TRIGGER outbox_alert_cleared",
    event_trigger("outbox_alert_cleared", "AFTER UPDATE OF cleared_wall ON alerts",
                   "OLD.cleared_wall IS NULL AND NEW.cleared_wall IS NOT NULL", "alert_cleared",
                   "NEW.cleared_wall", "NEW.cleared_seq",
                   "'alert_id', NEW.id, 'location', NEW.location, 'kind', NEW.kind, "
                   "'how', coalesce(NEW.cleared_how, 'condition'), 'by', NEW.acked_by, 'note', NEW.ack_note"),
    event_trigger("outbox_alert_acknowledged", "AFTER UPDATE OF acked_wall ON alerts",
                   "OLD.acked_wall IS NULL AND NEW.acked_wall IS NOT NULL", "alert_acknowledged",
                   "NEW.acked_wall", "NULL",
                   "'alert_id', NEW.id, 'location', NEW.location, 'kind', NEW.kind, 'by', NEW.acked_by, "
                   "'note', NEW.ack_note"),
    event_trigger("outbox_alert_updated", "AFTER UPDATE OF detail ON alerts",
                   "OLD.detail IS NOT NEW.detail AND NEW.cleared_wall IS NULL", "alert_updated",
                   "NEW.raised_wall", "NULL",
                   "'alert_id', NEW.id, 'location', NEW.location, 'kind', NEW.kind, 'detail', NEW.detail"),
    """CREATE TABLE count_tasks (
        id INTEGER PRIMARY KEY,
        location TEXT NOT NULL REFERENCES locations(id),
        reason TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
        opened_seq INTEGER REFERENCES transactions(seq),
        opened_wall TEXT NOT NULL,
        closed_seq INTEGER REFERENCES transactions(seq),
        closed_wall TEXT
    )""",
    "CREATE UNIQUE INDEX count_tasks_one_open ON count_tasks(location) WHERE closed_wall IS NULL",
    event_trigger("outbox_count_task_opened", "AFTER INSERT ON count_tasks", None, "count_task_opened",
                   "NEW.opened_wall", "NEW.opened_seq", _TASK),
    event_trigger("outbox_count_task_closed", "AFTER UPDATE OF closed_wall ON count_tasks",
                   "OLD.closed_wall IS NULL AND NEW.closed_wall IS NOT NULL", "count_task_closed",
                   "NEW.closed_wall", "NEW.closed_seq", _TASK),
    """CREATE TABLE charge_lists (
        list TEXT NOT NULL CHECK (list IN ('cost_center', 'machine', 'work_order')),
        value TEXT NOT NULL CHECK (length(value) BETWEEN 1 AND 200),
        description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 200),
        PRIMARY KEY (list, value)
    )""",
    """CREATE TABLE refill_visits (
        id INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL,
        opened_seq INTEGER REFERENCES transactions(seq),
        opened_wall TEXT NOT NULL,
        closed_seq INTEGER REFERENCES transactions(seq),
        closed_wall TEXT,
        summary TEXT CHECK (summary IS NULL OR json_valid(summary))
    )""",
    "CREATE UNIQUE INDEX refill_visits_one_open ON refill_visits(user_id) WHERE closed_wall IS NULL",
    event_trigger("outbox_refill_visit", "AFTER UPDATE OF closed_wall ON refill_visits",
                   "OLD.closed_wall IS NULL AND NEW.closed_wall IS NOT NULL", "refill_visit",
                   "NEW.closed_wall", "NEW.closed_seq",
                   "'visit_id', NEW.id, 'user_id', NEW.user_id, 'opened_wall', NEW.opened_wall, "
                   "'summary', json(coalesce(NEW.summary, '{}'))"),
    """CREATE TABLE open_bin_takes (
        location TEXT PRIMARY KEY REFERENCES locations(id),
        purpose TEXT NOT NULL CHECK (purpose IN ('take', 'refill')),
        user_id TEXT NOT NULL,
        cost_center TEXT,
        work_order TEXT,
        machine_id TEXT,
        approver_id TEXT,
        announced INTEGER CHECK (announced IS NULL OR typeof(announced) = 'integer'),
        before_mg INTEGER NOT NULL CHECK (typeof(before_mg) = 'integer'),
        opened_wall TEXT NOT NULL
    )""",
    "CREATE TABLE open_intents (seq INTEGER PRIMARY KEY REFERENCES transactions(seq))",
    "INSERT INTO open_intents (seq) SELECT i.seq FROM transactions i WHERE i.kind = 'intent' AND NOT EXISTS "
    "(SELECT 1 FROM transactions o WHERE o.kind = 'outcome' AND o.intent_seq = i.seq)",
    "CREATE TRIGGER open_intent_added AFTER INSERT ON transactions WHEN NEW.kind = 'intent' "
    "BEGIN INSERT INTO open_intents (seq) VALUES (NEW.seq); END",
    "CREATE TRIGGER open_intent_settled AFTER INSERT ON transactions WHEN NEW.kind = 'outcome' "
    "BEGIN DELETE FROM open_intents WHERE seq = NEW.intent_seq; END",
]
