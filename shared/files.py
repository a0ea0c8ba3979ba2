"""Files the services keep on disk (the data directory, the SQLite database) are private to the
user that runs them: the database holds webhook signing secrets and unpublished stories."""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents readable by their owner only (0700, whatever the
    umask). Directories that exist already are left as they are."""
    missing = []
    folder = Path(path)
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # another process made it at the same moment
            continue
        folder.chmod(0o700)
    return Path(path)


def private_file(path: Path) -> Path:
    """Create an empty file only its owner may read or write (0600), in a private directory, unless
    it exists already."""
    path = Path(path)
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return path
    path.chmod(0o600)
    return path
