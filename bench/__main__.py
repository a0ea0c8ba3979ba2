"""Benchmarks: ``python -m bench.pipeline`` (end-to-end latency and throughput),
``python -m bench.fanout --subscribers 1000`` (one flash to many subscribers, against a bare
client), ``python -m bench.isolation`` (slow receivers and everyone else) and
``python -m bench.tagging GOLD.jsonl`` (entity quality and tagging speed)."""

print(__doc__)
