"""`locker-sim pilot`: a 60-90 day customer pilot in simulation. The agent's real flows (vending, weigh
bins, refill, min/max, supervisor) on a real SQLite ledger, the real firmware on a simulated cabinet in
virtual time, technicians with seeded demand, a route driver, jams and network outages; then the reports
and a comparison with a fixed weekly refill. One job per module:

    site.py        the cabinet, catalog, people and min/max the pilot starts from
    demand.py      who takes what, when (seeded; the same stream feeds both arms)
    faults.py      jams, hung products and network outages (seeded)
    station.py     the simulated cabinet under the agent's flows, and people's hands on it
    driver.py      the route driver's visits through the refill flow
    runner.py      the event loop of the pilot arm
    stock.py       stock timelines and their figures (stockouts, hours out, stock carried), for both arms
    baseline.py    the same demand served by a fixed weekly refill, as a pure inventory replay
    comparison.py  comparison.csv and comparison.html
    progress.py    the progress bar on stderr
    run.py         one whole pilot: both arms, the reports, the comparison
    fleet.py       fleet mode: many cabinets, one process each, against a real broker and the hub
    command.py     the CLI of `pilot` and `fleet` (wired into sim/cli.py)
On the hub (`--hub`: what the supplier would have had):
    supplier.py    the supplier's set-up: tenant, customers, sites, cabinets, routes, who is mailed
    hub_pilot.py   the hub's side and the lock-step of virtual time; the fleet's cabinet processes
    lockstep.py    one cabinet in lock-step: its pilot, the agent's CloudSync, the gate at each step
    hub_clock.py   the hub database's receipt time on the pilot's clock
    capabilities.py, adapters.py   the hub's capabilities (van loads, orders, alerts, min/max, reports)
    smtp_sink.py, erp_sink.py      the people's mailbox and the supplier's ERP, real servers on loopback
    hub_summary.py the summary a supplier reads (summary.txt, summary.json)
See docs/pilot.md."""
