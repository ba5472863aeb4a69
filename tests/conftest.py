import os

from hypothesis import settings

# CI runs must be repeatable: the same examples every run, no deadline flakiness on slow runners.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
