"""Benchmarks: ``python -m bench.pipeline`` (end-to-end latency and throughput),
``python -m bench.fanout --subscribers 1000`` (one flash to many subscribers, against a bare
client), ``python -m bench.isolation`` (slow receivers and everyone else),
``python -m bench.tagging GOLD.jsonl`` (entity quality and tagging speed) and
``python -m bench.long_story`` (time and memory for stories of 50,000 to 500,000 characters)."""

print(__doc__)
