"""Output formats. Each renders a stored story version to a document a subscriber receives."""
