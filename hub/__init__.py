"""The supplier's hub: the cloud half of the MQTT contract (docs/mqtt.md) on PostgreSQL.

Every cabinet of every customer: what they send is checked, stored once and acknowledged; commands and desired
state go back signed. It scales by running more workers (MQTT 5 shared subscriptions) on engines built for
it, never by a cluster of its own (docs/scaling.md, docs/decisions/0036-hub-storage-and-migrations.md).
"""
