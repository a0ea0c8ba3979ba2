"""SFTP channel (asyncssh): each version is a file on the subscriber's SFTP server.

* **The server's host key must be the one given** (``host_key``, OpenSSH form): no trust on first
  use, no ``known_hosts`` file, no agent, no default keys from the worker's home folder.
* **SSRF guard**: the host is resolved once and every address checked like a webhook's; the
  connection goes to a checked address, so a second lookup cannot point it elsewhere.
* **One deadline per attempt**: connect, authenticate, write and rename together.
* The file is written under a hidden temporary name and renamed over the final one
  (``posix-rename``, else remove + rename), so a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import posixpath
import time

import asyncssh

from services.publish.channels.files import failed, stored, temporary_name
from shared.config import Settings
from shared.netguard import TargetRefused, checked_addresses
from shared.webhook_client import SendResult


def _options(config: dict, secrets: dict) -> dict:
    key = secrets.get("private_key")
    return {
        "username": config["username"],
        "password": secrets.get("password"),
        "client_keys": [asyncssh.import_private_key(key)] if key else None,
        "known_hosts": ([asyncssh.import_public_key(config["host_key"].strip())], [], []),
        "agent_path": None,
        "config": None,
        "preferred_auth": "publickey,password" if key else "password",
    }


async def _replace(sftp: asyncssh.SFTPClient, partial: str, final: str) -> None:
    try:
        await sftp.posix_rename(partial, final)
    except (asyncssh.SFTPOpUnsupported, asyncssh.SFTPFailure):
        if await sftp.exists(final):
            await sftp.remove(final)
        await sftp.rename(partial, final)


async def _put(config: dict, secrets: dict, name: str, body: bytes, settings: Settings) -> str:
    addresses = await asyncio.to_thread(
        checked_addresses, config["host"], config["port"], settings.webhook_allowed_networks
    )
    async with asyncssh.connect(addresses[0], config["port"], **_options(config, secrets)) as connection:
        async with connection.start_sftp_client() as sftp:
            final = posixpath.join(config["path"], name)
            partial = posixpath.join(config["path"], temporary_name(name))
            async with sftp.open(partial, "wb") as remote:
                await remote.write(body)
            await _replace(sftp, partial, final)
            return final


async def send(config: dict, secrets: dict, name: str, body: bytes, settings: Settings) -> SendResult:
    started, deadline = time.perf_counter(), settings.delivery_deadline_seconds
    try:
        async with asyncio.timeout(deadline):
            final = await _put(config, secrets, name, body, settings)
    except TimeoutError:
        return failed(started, f"not stored within the {deadline:g} s deadline")
    except TargetRefused as exc:
        return failed(started, str(exc))
    except asyncssh.HostKeyNotVerifiable:
        return failed(started, f"host key refused: {config['host']} did not present the host_key this channel names")
    except asyncssh.PermissionDenied:
        return failed(started, f"authentication refused by {config['host']} for {config['username']}")
    except (asyncssh.Error, OSError) as exc:
        return failed(started, f"{exc.__class__.__name__}: {exc}")
    return stored(started, f"sftp {final}")
