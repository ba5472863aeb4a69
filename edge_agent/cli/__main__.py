"""`python -m edge_agent.cli`: the same as `locker-agent`."""
import sys

from edge_agent.cli import main

sys.exit(main())
