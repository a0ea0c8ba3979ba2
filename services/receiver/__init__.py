"""The reference receiver: a minimal downstream site that verifies Standard Webhooks."""
