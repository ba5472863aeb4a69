"""Schema version 4: commissioning reports (edge_agent/cli/commissioning.py, docs/commissioning.md).

`commissioning_reports` keeps every run of `locker-agent commission` whole: what passed, what failed and
why, the bins' calibration factors, the firmware, the installer and the time (`report`, the JSON document
also written as a file). A trigger writes the `commissioning_report` event into the cloud outbox in the
same statement as the row, as schema_v3 does for alerts and refill tasks: the cloud learns of every report,
even one written while the cabinet was offline. The report is not a transaction: it moves no stock, and the
actuations it made are in the transactions table as intents and outcomes of their own.
"""

STATEMENTS = [
    """CREATE TABLE commissioning_reports (
        id INTEGER PRIMARY KEY,
        wall TEXT NOT NULL,
        clock_synced INTEGER NOT NULL CHECK (clock_synced IN (0, 1)),
        cabinet_id TEXT,
        installer TEXT,
        firmware TEXT,
        passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
        report TEXT NOT NULL CHECK (json_valid(report) AND json_type(report, '$.checks') = 'array')
    )""",
    # json(...) keeps the checks an array in the event body, not a string holding one.
    "CREATE TRIGGER outbox_commissioning_report AFTER INSERT ON commissioning_reports BEGIN "
    "INSERT INTO outbox_events (type, wall, clock_synced, ledger_seq, body) VALUES ('commissioning_report', "
    "NEW.wall, NEW.clock_synced, NULL, json_object('report_id', NEW.id, "
    "'passed', json(CASE WHEN NEW.passed THEN 'true' ELSE 'false' END), 'installer', NEW.installer, "
    "'firmware', NEW.firmware, 'started', json_extract(NEW.report, '$.started'), "
    "'finished', json_extract(NEW.report, '$.finished'), 'checks', json(json_extract(NEW.report, '$.checks')))); "
    "END",
]
