"""`locker-agent commission --config FILE`: walk a new cabinet with the installer, unit by unit, and keep a
report of what passed and what failed and why (docs/commissioning.md).

- Every door: its latch is pulsed (Agent.test_door, the installer's UNLOCK) and its own reed switch must report it open,
  then closed again. Another door opening instead is a miswire and says which; no change at all names the
  solenoid wiring and the reed switch.
- Every lane: one turn, home switch to home switch (Agent.test_lane, a VEND). The firmware's HOME_CHECK only proves the
  switch reads home while the motor is selected: a stalled motor resting at home passes it, so only a turn
  finds a jam (docs/decisions/0013-commissioning.md). On an empty lane nothing is given; on a stocked one the
  item drops and is charged to the installer, as it really left the lane. A lane an earlier jam disabled is
  re-enabled first (Agent.reenable_lane): its turn is the proof it is free.
- Every weigh bin: a stable reading, tare (empty), calibrate with the reference weight, verify that it then
  reads the weight within the tolerance, and zero again with the weight off. Through the agent's own
  installer flows (Agent.read_bin, tare_bin, calibrate_bin), as the touchscreen's calibration wizard does.

It runs the agent's worker in-process (the agent service must be stopped: the port is opened exclusively),
so start-up recovery settles whatever an earlier run left pending before anything moves, and every
actuation is an intent and an outcome in the ledger like any other. The walk uses only the Agent's public
jobs, as the installer logged in (Agent.begin_session). The report goes to the ledger's
`commissioning_reports` (a trigger puts it in the cloud outbox), and to a JSON file and a readable
Markdown file beside it.

checks.py: a Check and the shared words; console.py: the installer's prompts; walk.py: the walk (doors,
lanes, bins); report.py: the report, in the ledger and as files; command.py: the command's options and run.
"""
from edge_agent.cli.commissioning.checks import Check
from edge_agent.cli.commissioning.command import add_arguments, main
from edge_agent.cli.commissioning.report import build_report, record_report

__all__ = ["add_arguments", "main", "build_report", "record_report", "Check"]
