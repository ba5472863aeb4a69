"""The contract fleet (`locker-sim fleet --model contract`): many light cabinets that speak docs/mqtt.md,
written from that document alone (no edge_agent import), a few hundred to a process in one select loop, to
load a broker and the hub as 1,000 cabinets would (decision 0039).

    contract.py   the doc's recipes: the hash chain, canonical JSON, signed envelopes, up messages
    cabinet.py    one cabinet: rows, batches, acks, resends, its ack latencies
    loop.py       one process: its cabinets' MQTT clients in one select loop (python -m sim.fleet.loop)
    run.py        the whole run: broker, PostgreSQL, hub workers, cabinet processes, figures
"""
