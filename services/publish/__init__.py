"""Publish: renders story versions to IPTC ninjs, creates one delivery per subscriber and
version, and sends signed webhooks."""
