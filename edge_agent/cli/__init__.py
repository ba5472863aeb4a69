"""The command lines at the top of the agent: `locker-agent` (locker_agent.py) and what its subcommands
show or do (admin listings, registration, commissioning). Nothing below imports from here."""
from edge_agent.cli.locker_agent import main

__all__ = ["main"]
