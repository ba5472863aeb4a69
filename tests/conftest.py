import os

from hypothesis import settings

# CI runs must be repeatable: the same examples every run, no deadline flakiness on slow runners.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The real pcscd rig's fixtures, registered once for the whole session (a session fixture imported into
# several test modules would be several rigs).
from tests.pcsc_rig import pcsc_rig, virtual_cards  # noqa: E402,F401
# The session's PostgreSQL (started on first use) and a fresh hub database per test: tests/postgres.py.
from tests.postgres import hub_dsn, postgres  # noqa: E402,F401
# The hub's web app on that database, with a settable clock and a signed-in HTTP client: tests/hub_web.py.
from tests.hub_web import hub_web  # noqa: E402,F401
