"""FTP channel (the standard library's ``ftplib``, in a thread): each version is a file on the
subscriber's FTP server.

* ``tls``: FTPS with explicit TLS (``AUTH TLS``), the data connection protected too (``PROT P``),
  the certificate checked against the host name given.
* **SSRF guard**: the host is resolved once and every address checked like a webhook's; the
  control connection goes to a checked address, and passive data connections go to the address
  of the control connection (never to the one the server names).
* The file is stored under a hidden temporary name and renamed over the final one (a file of that
  name is removed first: FTP servers differ on renaming over a file).
* One deadline per attempt (the socket timeout, and a bound on the whole).
"""

from __future__ import annotations

import asyncio
import ftplib
import io
import time

from services.publish.channels.files import failed, stored, temporary_name, tls_context
from shared.config import Settings
from shared.netguard import TargetRefused, checked_addresses
from shared.webhook_client import SendResult


def _session(config: dict, address: str, settings: Settings) -> ftplib.FTP:
    deadline = settings.delivery_deadline_seconds
    if config.get("tls"):
        ftp = ftplib.FTP_TLS(context=tls_context(settings), timeout=deadline)
    else:
        ftp = ftplib.FTP(timeout=deadline)
    ftp.connect(address, config["port"], timeout=deadline)
    ftp.host = config["host"]  # TLS checks the certificate against the name, not the address
    return ftp


def _put(config: dict, secrets: dict, name: str, body: bytes, settings: Settings) -> str:
    addresses = checked_addresses(config["host"], config["port"], settings.webhook_allowed_networks)
    with _session(config, addresses[0], settings) as ftp:
        ftp.login(config["username"], secrets.get("password", ""))
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        ftp.cwd(config["path"])
        partial = temporary_name(name)
        ftp.storbinary(f"STOR {partial}", io.BytesIO(body))
        try:
            ftp.delete(name)
        except ftplib.error_perm:  # none there yet
            pass
        ftp.rename(partial, name)
    return f"{config['path'].rstrip('/')}/{name}"


async def send(config: dict, secrets: dict, name: str, body: bytes, settings: Settings) -> SendResult:
    started, deadline = time.perf_counter(), settings.delivery_deadline_seconds
    try:
        final = await asyncio.wait_for(asyncio.to_thread(_put, config, secrets, name, body, settings), deadline)
    except TimeoutError:
        return failed(started, f"not stored within the {deadline:g} s deadline")
    except TargetRefused as exc:
        return failed(started, str(exc))
    except ftplib.error_perm as exc:
        return failed(started, f"refused by {config['host']}: {exc}")
    except (ftplib.Error, OSError, EOFError) as exc:
        return failed(started, f"{exc.__class__.__name__}: {exc}")
    return stored(started, f"ftp {final}")
