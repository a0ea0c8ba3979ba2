"""Benchmarks: ``python -m bench.pipeline`` (end-to-end latency and throughput; ``--tiny`` and
``--conll PATH`` against a bare Celery chain and the tagger alone; ``--tiny --bare-tagging``
against a bare chain that tags each story too),
``python -m bench.fanout --subscribers 1000`` (one flash to many subscribers, against a bare
client), ``python -m bench.isolation`` (slow receivers and everyone else),
``python -m bench.tagging GOLD.jsonl`` (entity quality and tagging speed),
``python -m bench.ingest`` (stories accepted per second by the API, against a bare endpoint),
``python -m bench.profile`` (where the API's time goes under that load, sampled by py-spy),
``python -m bench.language`` (language detection on labelled text),
``python -m bench.statements`` (building a SQLAlchemy statement against running it),
``python -m bench.ninjs_validation`` (the ninjs schema check, compiled against pure Python),
``python -m bench.desk`` (what an open wire desk's live list costs the API),
``python -m bench.gc_pauses`` (a full garbage-collector pass in each kind of process, before and
after the startup objects are frozen) and
``python -m bench.long_story`` (time and memory for stories of 50,000 to 500,000 characters)."""

print(__doc__)
