"""FTPS and SMTP with STARTTLS against real servers on 127.0.0.1 whose certificate a private CA
signed: trusted through NEWSWIRE_CHANNEL_CA_FILE, refused without it (the attempt log says so)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import BACKENDS, running_stack
from tests.integration.test_channels import attempts, deliveries, file_story, ftp_channel, subscribe
from tests.support import wait_for
from tests.support_servers import FtpServer, SmtpServer, make_certificates


def starttls_channel(smtp: SmtpServer) -> dict:
    return {
        "type": "email",
        "host": "127.0.0.1",
        "port": smtp.port,
        "starttls": True,
        "from": "wire@newswire.test",
        "to": ["desk@site.test"],
    }


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module", params=BACKENDS[:1])
def trusting_stack(request, tmp_path_factory, certificates):
    """A stack whose delivery worker trusts the test CA."""
    extra = {"NEWSWIRE_CHANNEL_CA_FILE": str(certificates[0])}
    yield from running_stack(request.param, tmp_path_factory.mktemp("tls-stack"), extra_env=extra)


def test_ftps_and_starttls_deliver_when_the_certificate_is_trusted(trusting_stack, certificates, tmp_path):
    _ca, cert, key = certificates
    ftp, smtp = FtpServer(tmp_path, tls=(cert, key)), SmtpServer(tls=(cert, key))
    try:
        ftps = ftp_channel(ftp, tls=True)
        mail = starttls_channel(smtp)
        subscribe(trusting_stack, "ftps-site", ftps, output_format="nitf")
        subscribe(trusting_stack, "tls-mail-site", mail)
        story, _path = file_story(trusting_stack)
        wait_for((tmp_path / f"{story['id']}-v1.xml").exists, timeout=60, what="the file over FTPS")
        wait_for(lambda: smtp.messages, timeout=60, what="the message after STARTTLS")
    finally:
        ftp.close()
        smtp.close()


def test_a_certificate_nobody_vouches_for_is_refused(stack, certificates, tmp_path):
    _ca, cert, key = certificates
    smtp = SmtpServer(tls=(cert, key))
    try:
        mail = starttls_channel(smtp)
        site = subscribe(stack, f"untrusted-mail-{smtp.port}", mail)
        file_story(stack)
        wait_for(lambda: attempts(stack, site["id"]), timeout=60, what="an attempt")
        assert "CERTIFICATE_VERIFY_FAILED" in attempts(stack, site["id"])[0]["error"]
        assert smtp.messages == [] and deliveries(stack, site["id"])[0]["state"] != "delivered"
    finally:
        smtp.close()
