"""Real servers on 127.0.0.1 for the channel tests, each stopped and started again on the same port:
an SFTP server (asyncssh: one user with a password, its files in a folder, its own ed25519 host
key), an FTP server (pyftpdlib: one user, a folder) and an SMTP server (aiosmtpd: keeps what it
is sent)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import asyncssh

from shared.embedded_redis import free_port


class _OneUser(asyncssh.SSHServer):
    def __init__(self, username: str, password: str):
        self.username, self.password = username, password

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return (username, password) == (self.username, self.password)


class SftpServer:
    def __init__(self, root: Path, username: str = "wire", password: str = "Sesame-2026-never-logged"):
        self.root, self.username, self.password = root, username, password
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.port = free_port()
        self.server = None
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.start()

    @property
    def public_key(self) -> str:
        """The host key as a subscriber's channel names it: ``ssh-ed25519 AAAA…``."""
        return self.host_key.export_public_key().decode().strip()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(15)

    def start(self) -> None:
        self._call(self._start())

    async def _start(self) -> None:
        self.server = await asyncssh.create_server(
            lambda: _OneUser(self.username, self.password),
            "127.0.0.1",
            self.port,
            server_host_keys=[self.host_key],
            sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=str(self.root)),
        )

    def stop(self) -> None:
        if self.server is not None:
            self._call(self._stop())

    async def _stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.server = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)


class FtpServer:
    def __init__(self, root: Path, username: str = "wire", password: str = "Ftp-pass-2026-never-logged"):
        self.root, self.username, self.password = root, username, password
        self.port = free_port()
        self.server = None
        self.start()

    def start(self) -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

        authorizer = DummyAuthorizer()
        authorizer.add_user(self.username, self.password, str(self.root), perm="elradfmw")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "test ftp"})
        self.server = ThreadedFTPServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"timeout": 0.2}, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close_all()
            self.server = None

    close = stop


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.messages: list = []
        self.controller = None
        self.start()

    def start(self) -> None:
        from email import message_from_bytes, policy

        from aiosmtpd.controller import Controller

        received = self.messages

        class Keep:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
                received.append(message_from_bytes(envelope.original_content, policy=policy.default))
                return "250 kept"

        self.controller = Controller(Keep(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    close = stop
