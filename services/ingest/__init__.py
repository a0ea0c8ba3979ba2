"""Ingest: the editors' REST API. Stores each story version with its outbox event."""
