"""Min/max review on the hub (docs/hub/minmax.md): recommendations from each cabinet's history
(recommend.py), the supplier's proposal and the customer's approval (proposals.py), and the approved min/max
made into the next catalog desired version, published, and followed to the cabinet (push.py)."""


class MinMaxRefused(Exception):
    """What was asked cannot be done (not allowed, wrong state, a bad figure, a site not run from the hub);
    the text says why. Nothing was changed."""
