"""Benchmarks: ``python -m bench.pipeline`` (end-to-end latency and throughput) and
``python -m bench.tagging GOLD.jsonl`` (entity quality and tagging speed)."""

print(__doc__)
