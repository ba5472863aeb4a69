# What the simulations and tests need around the hub (the cloud side of docs/mqtt.md is hub/, one
# implementation): broker.py (a Mosquitto of one's own on a free loopback port), postgres.py (a throw-away
# PostgreSQL), hub_db.py (a migrated hub database: the given one or a throw-away one), command.py
# (`locker-sim cloud`: the hub in one process, for cabinets by hand).
