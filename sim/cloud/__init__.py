# The reference cloud side of the MQTT contract (docs/mqtt.md): receiver.py (the cloud receiver: `locker-sim
# cloud`), contract.py (the JSON Schemas of docs/mqtt/ and the checks a schema cannot say), broker.py (a
# Mosquitto of one's own on a free loopback port, for tests and the fleet pilot).
