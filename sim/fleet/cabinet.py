"""One contract cabinet: it writes transaction rows at a steady rate (and may start with a backlog), sends
them in batches, and keeps them until the cloud's ack says they are stored: the rules of docs/mqtt.md,
"What the agent guarantees", at their simplest. It knows no MQTT: the loop hands it the messages that came
and publishes what it returns."""
import json

from sim.fleet import contract

BATCH_ROWS = 200            # docs/mqtt.md's default batch size
WINDOW_ROWS = 1600          # rows sent past the cloud's ack before the cabinet waits for one
ACK_TIMEOUT_S = 30          # no ack for this long with rows out: send again from the last ack


class Cabinet:
    def __init__(self, name, tenant, site, key, rows_per_s, backlog_rows=0, clock_wall=None):
        self.name = name
        self.key = key
        self.root = contract.root(tenant, site, name)
        self.interval_s = 1 / rows_per_s if rows_per_s > 0 else None
        self.wall = clock_wall              # epoch seconds for sent_wall and the rows' wall_time
        self.rows = []                      # rows[seq - 1]; a cabinet's whole ledger, in memory
        self.written_at = []                # monotonic time each row was written (for the ack latency)
        self.session = 0
        self.acked = 0
        self.next_send = 1
        self.last_progress = 0.0
        self.next_row_at = None
        self.latencies = []                 # seconds from a row's writing to the ack that covered it
        self.drained_at = None              # when the starting backlog was acked whole
        self.backlog_rows = backlog_rows
        self.resends = 0
        self.batches = 0
        self.sent_max = 0                   # the highest seq ever sent: below it a batch is sent again
        self.bad_ack_hashes = 0             # acks whose hash is not our row's: the hub's anchor is wrong
        for _ in range(backlog_rows):
            self._write(0.0)

    # -- the ledger ---------------------------------------------------------------------------------------
    def _write(self, now):
        seq = len(self.rows) + 1
        prev = self.rows[-1]["hash"] if self.rows else contract.GENESIS
        row = {"seq": seq, "boot": 1, "wall_time": contract.wall(self.wall()), "clock_synced": 1,
               "monotonic_ms": int(now * 1000), "kind": "issue", "user_id": "u-%d" % (seq % 40),
               "sku": "P-%d" % (seq % 60), "location": "L%d" % (seq % 60 + 1), "quantity": 1, "unit_cost": 125,
               "prev_hash": prev}
        row["hash"] = contract.row_hash(prev, row)
        self.rows.append(row)
        self.written_at.append(now)

    @property
    def head(self):
        return len(self.rows)

    # -- what the loop calls ---------------------------------------------------------------------------
    def connected(self, now):
        """A new connection: the status, the birth, then everything from the last ack (docs/mqtt.md)."""
        self.session += 1
        self.next_send = self.acked + 1
        self.last_progress = now
        if self.next_row_at is None and self.interval_s:
            self.next_row_at = now + self.interval_s
        tx = {"head": self.head, "acked": self.acked}
        if self.rows:
            tx["head_hash"] = self.rows[-1]["hash"]
        return [(self.root + "/status", contract.status(self.name, self.session, self.wall(), "online"), True),
                (self.root + "/birth", contract.birth(self.name, self.session, self.wall(),
                                                      {"tx": tx, "events": {"head": 0, "acked": 0}}), False)]

    def last_will(self):
        """The will for the next connection: its session, sent_wall at connect time (docs/mqtt.md)."""
        return self.root + "/status", contract.status(self.name, self.session + 1, self.wall(), "offline")

    def stop_writing(self):
        self.next_row_at = None

    @property
    def done(self):
        return self.acked >= self.head

    def step(self, now):
        """Write the rows that are due and return the batches to publish: (topic, payload, retain)."""
        while self.next_row_at is not None and now >= self.next_row_at:
            self._write(now)
            self.next_row_at += self.interval_s
        if self.head > self.acked and now - self.last_progress > ACK_TIMEOUT_S:
            self.next_send = self.acked + 1          # nothing acked for too long: again from the last ack
            self.last_progress = now
        out = []
        while self.next_send <= self.head and self.next_send - 1 - self.acked < WINDOW_ROWS:
            first = self.next_send
            rows = self.rows[first - 1:min(self.head, first - 1 + BATCH_ROWS)]
            backlog = rows[-1]["seq"] <= self.backlog_rows or first <= self.sent_max
            out.append((self.root + "/tx", contract.tx_batch(self.name, self.session, self.wall(), rows, backlog),
                        False))
            self.next_send = rows[-1]["seq"] + 1
            self.sent_max = max(self.sent_max, rows[-1]["seq"])
            self.batches += 1
        return out

    def received(self, leaf, payload, now):
        """An ack or a command from the cloud; a message not signed for us is ignored."""
        try:
            env = json.loads(payload)
        except ValueError:
            return
        if not isinstance(env, dict) or not contract.signed_by(self.key, env, self.name):
            return
        body = env.get("body") or {}
        if env.get("type") == "ack" and leaf == "ack" and body.get("stream") == "tx":
            upto = min(int(body.get("upto_seq", 0)), self.head)
            if upto > 0 and body.get("hash") not in (None, self.rows[upto - 1]["hash"]):
                self.bad_ack_hashes += 1
                return
            if upto > self.acked:
                live = max(self.acked, self.backlog_rows) + 1      # a backlog row's wait is the drain, not latency
                self.latencies.extend(now - self.written_at[s - 1] for s in range(live, upto + 1))
                self.acked = upto
                self.last_progress = now
                if self.drained_at is None and self.acked >= self.backlog_rows:
                    self.drained_at = now
            self.next_send = max(self.next_send, self.acked + 1)
        elif env.get("type") == "resend" and leaf == "cmd" and body.get("stream") == "tx":
            self.resends += 1
            self.next_send = max(self.acked + 1, min(self.next_send, int(body.get("from_seq", 1))))
