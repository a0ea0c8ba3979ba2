"""The scheduler ("beat"): one process that sweeps the database every second — unsent
outbox events, embargoes that have lifted, deliveries that are due for a (re)try."""
