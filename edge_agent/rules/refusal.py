"""The one way anything at the cabinet says no: `Refusal(reason, words)`.

A rule answers with a Refusal (or None: allowed); a flow raises it, after putting it on record with
`record` when the ledger keeps refusals of that kind; the API turns it into 403 in one place. `reason` is a
code for programs and reports, `words` what the screen shows the person."""
from edge_agent.ledger import refusal_tally


class Refusal(Exception):
    def __init__(self, reason, words, **details):
        super().__init__(words)
        self.reason = reason
        self.words = words
        self.details = details      # extra fields a client may show (tries left, the user refused)

    @property
    def message(self):
        return self.words

    def record(self, ledger, **row):
        """Put this refusal on record (a `refusal` transaction with its reason and who and where; past a few
        of one kind for one person in a minute, a count: ledger/refusal_tally.py), and return it to raise:
        `raise refusal.record(ledger, user_id=..., location=...)`."""
        refusal_tally.record(ledger, dict(row, reason=self.reason))
        return self

    @staticmethod
    def flush(ledger, everything=False):
        """Write the counts of refusals coalesced whose window is over (everything: all, as the agent stops)."""
        return refusal_tally.flush(ledger, everything)

    def __eq__(self, other):
        return isinstance(other, Refusal) and (self.reason, self.words) == (other.reason, other.words)

    def __hash__(self):
        return hash((self.reason, self.words))

    def __repr__(self):
        return "Refusal(%r, %r)" % (self.reason, self.words)
