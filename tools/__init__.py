"""Offline tools: commands that rebuild the project's learned artefacts from labelled data."""
