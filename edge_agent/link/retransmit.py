"""The cabinet link's retransmission timeout (link/core.py uses it for every request it resends)."""

RTO_INITIAL_MS = 40
RTO_MIN_MS = 25
RTO_MAX_MS = 500


class RetransmitTimer:
    """Retransmission timeout from measured round trips, as TCP (RFC 6298) and Klipper's serialqueue do:
    rto = srtt + max(4 * rttvar, minimum), doubled on a timeout with nothing heard, capped. Samples come only
    from requests answered after a single send (Karn): an answer to a retransmitted frame cannot say which
    copy it answers.

    The doubling is for a firmware slower than the timeout, not for a noisy line: when a frame arrived
    damaged while the host waited, the firmware is answering and the line broke it, so the resend goes at the
    measured timeout (`restore`) instead of a doubled one. A line that corrupts long frames then gets many
    quick resends within a request's budget instead of a few at the cap (docs/decisions/0034). An answer to
    a resent frame restores nothing (Karn): a firmware slower than the measured timeout would otherwise be
    resent to forever without a sample."""

    def __init__(self, initial=RTO_INITIAL_MS, minimum=RTO_MIN_MS, maximum=RTO_MAX_MS):
        self.minimum = minimum
        self.maximum = maximum
        self.rto = initial
        self.base = initial         # the timeout the round trips measured, before any backoff
        self.srtt = None
        self.rttvar = None

    def sample(self, rtt):
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = (3 * self.rttvar + abs(self.srtt - rtt)) / 4
            self.srtt = (7 * self.srtt + rtt) / 8
        self.rto = self.base = min(max(self.srtt + max(4 * self.rttvar, self.minimum), self.minimum),
                                   self.maximum)

    def backoff(self):
        self.rto = min(self.rto * 2, self.maximum)

    def restore(self):
        """The firmware was heard, damaged: the measured timeout again (no sample: Karn)."""
        self.rto = self.base
