"""Folder channel: each version is a file in a folder below ``NEWSWIRE_FOLDER_CHANNEL_ROOT`` on
the delivery worker's machine (a hot folder a CMS watches, or a mounted share)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from services.publish.channels.files import failed, stored, temporary_name
from shared.config import Settings
from shared.webhook_client import SendResult


def root(settings: Settings) -> Path:
    return Path(settings.folder_channel_root or Path(settings.data_dir) / "folders")


def _write(folder: Path, name: str, body: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / temporary_name(name)
    with open(partial, "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, folder / name)  # atomic: a reader sees the old file or the whole new one


async def send(config: dict, name: str, body: bytes, settings: Settings) -> SendResult:
    started = time.perf_counter()
    folder = root(settings) / config["path"]
    try:
        await asyncio.wait_for(asyncio.to_thread(_write, folder, name, body), settings.delivery_deadline_seconds)
    except TimeoutError:
        return failed(started, f"not written within the {settings.delivery_deadline_seconds:g} s deadline")
    except OSError as exc:
        return failed(started, f"{exc.__class__.__name__}: {exc.strerror or exc}")
    return stored(started, f"{config['path']}/{name}")
