"""E-mail channel (the standard library's ``smtplib``, in a thread): each version is one message
to the subscriber's addresses, with the rendering attached (``<story id>-v<version>.<ext>``).

* Its ``Message-ID`` is the delivery's ``webhook-id`` (``<msg_…@newswire>``): the same on every
  retry, so a mailbox or a mail-to-CMS gateway drops a second copy.
* ``starttls``: STARTTLS before anything else is said, the certificate checked against the host
  name given; with ``username`` the login follows (``password`` is sealed at rest).
* **SSRF guard** like every channel: the SMTP host is resolved once, every address checked, and
  the connection goes to a checked address.
"""

from __future__ import annotations

import asyncio
import smtplib
import time
from email.message import EmailMessage
from email.utils import formatdate

from services.publish.channels.files import failed, stored, tls_context
from shared.config import Settings
from shared.netguard import TargetRefused, checked_addresses
from shared.webhook_client import SendResult


def message(config: dict, outgoing, name: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = config["from"]
    mail["To"] = ", ".join(config["to"])
    mail["Subject"] = f"[newswire] {outgoing.event_type}: story {outgoing.story_id}, version {outgoing.version}"
    mail["Message-ID"] = f"<{outgoing.message_id}@newswire>"
    mail["Date"] = formatdate(usegmt=True)
    mail.set_content(f"{outgoing.event_type}: story {outgoing.story_id}, version {outgoing.version}; see {name}.\n")
    maintype, _, subtype = outgoing.content_type.partition("/")
    mail.add_attachment(outgoing.body, maintype=maintype, subtype=subtype, filename=name)
    return mail


def _send(config: dict, secrets: dict, mail: EmailMessage, settings: Settings) -> None:
    addresses = checked_addresses(config["host"], config["port"], settings.webhook_allowed_networks)
    with smtplib.SMTP(timeout=settings.delivery_deadline_seconds) as smtp:
        smtp.connect(addresses[0], config["port"])
        smtp._host = config["host"]  # STARTTLS checks the certificate against the name, not the address
        smtp.ehlo()
        if config.get("starttls"):
            smtp.starttls(context=tls_context(settings))
            smtp.ehlo()
        if config.get("username"):
            smtp.login(config["username"], secrets.get("password", ""))
        smtp.send_message(mail)


async def send(config: dict, secrets: dict, outgoing, name: str, settings: Settings) -> SendResult:
    started, deadline = time.perf_counter(), settings.delivery_deadline_seconds
    mail = message(config, outgoing, name)
    try:
        await asyncio.wait_for(asyncio.to_thread(_send, config, secrets, mail, settings), deadline)
    except TimeoutError:
        return failed(started, f"not sent within the {deadline:g} s deadline")
    except TargetRefused as exc:
        return failed(started, str(exc))
    except smtplib.SMTPResponseException as exc:
        return failed(started, f"refused by {config['host']}: {exc.smtp_code} {exc.smtp_error!r}")
    except (smtplib.SMTPException, OSError) as exc:
        return failed(started, f"{exc.__class__.__name__}: {exc}")
    return stored(started, f"mail to {', '.join(config['to'])} as {mail['Message-ID']}")
