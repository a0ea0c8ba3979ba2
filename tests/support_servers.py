"""Real servers on 127.0.0.1 for the channel tests, each stopped and started again on the same port:
an SFTP server (asyncssh: one user with a password, its files in a folder, its own ed25519 host
key), an FTP server (pyftpdlib: one user, a folder) and an SMTP server (aiosmtpd: keeps what it
is sent)."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from datetime import UTC, datetime, timedelta
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
    """``tls``: (certificate, key) files; then FTPS only (control and data connections)."""

    def __init__(
        self,
        root: Path,
        username: str = "wire",
        password: str = "Ftp-pass-2026-never-logged",
        tls: tuple[Path, Path] | None = None,
    ):
        self.root, self.username, self.password, self.tls = root, username, password, tls
        self.port = free_port()
        self.server = None
        self.start()

    def start(self) -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
        from pyftpdlib.ioloop import IOLoop
        from pyftpdlib.servers import ThreadedFTPServer

        authorizer = DummyAuthorizer()
        authorizer.add_user(self.username, self.password, str(self.root), perm="elradfmw")
        attributes = {"authorizer": authorizer, "banner": "test ftp"}
        if self.tls:
            attributes |= {"certfile": str(self.tls[0]), "keyfile": str(self.tls[1])}
            attributes |= {"tls_control_required": True, "tls_data_required": True}
        handler = type("Handler", (TLS_FTPHandler if self.tls else FTPHandler,), attributes)
        # pyftpdlib shares one IOLoop and one exit flag between every threaded server of a process:
        # the server stopped a moment ago would end the new one's sessions. Each gets its own.
        server_class = type("Server", (ThreadedFTPServer,), {"_exit": threading.Event()})
        self.server = server_class(("127.0.0.1", self.port), handler, ioloop=IOLoop())
        self._stopping = threading.Event()
        self._serving = threading.Thread(target=self._serve, args=(self.server, self._stopping), daemon=True)
        self._serving.start()

    @staticmethod
    def _serve(server, stopping: threading.Event) -> None:
        while not stopping.is_set():
            server.serve_forever(timeout=0.1, blocking=False, handle_exit=False)
        server.close_all()

    def stop(self) -> None:
        """Returns once the port is closed and every session has ended."""
        if self.server is not None:
            self._stopping.set()
            self._serving.join(15)
            self.server = None

    close = stop


class SmtpServer:
    """``tls``: (certificate, key) files; then it refuses mail until STARTTLS."""

    def __init__(self, tls: tuple[Path, Path] | None = None):
        self.port = free_port()
        self.messages: list = []
        self.controller = None
        self.tls = tls
        self.start()

    def start(self) -> None:
        from email import message_from_bytes, policy

        from aiosmtpd.controller import Controller

        received = self.messages

        class Keep:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
                received.append(message_from_bytes(envelope.original_content, policy=policy.default))
                return "250 kept"

        options = {}
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            options = {"tls_context": context, "require_starttls": True}
        self.controller = Controller(Keep(), hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    close = stop


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA, and a server certificate for 127.0.0.1 signed by it: (CA, certificate, key) files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "newswire test CA")])

    def builder(subject, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )

    ca = (
        builder(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
