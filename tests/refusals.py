"""The one way a test asks for a refusal: the Refusal a call raised (the test fails when nothing was refused)."""
import pytest

from edge_agent.rules.refusal import Refusal


def refused(fn, *args, **kwargs):
    with pytest.raises(Refusal) as caught:
        fn(*args, **kwargs)
    return caught.value
