"""Cloud sync over MQTT (docs/mqtt.md): the topic layout, signed down-messages, the durable outbox read from
the ledger, the MQTT client that publishes it, and the handling of acknowledgements, commands and desired
state sent down."""
