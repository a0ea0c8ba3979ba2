"""Output channels: how a rendered item reaches a subscriber."""
