"""Enrichment: tags each stored story version (places with codes, people, organisations,
keywords, language) and hands it on to publish."""
