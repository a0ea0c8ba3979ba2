"""The Newswire services: ingest, enrichment, publish, scheduler and the reference receiver."""
