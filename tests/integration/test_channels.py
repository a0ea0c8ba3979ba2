"""Subscribers that take files: over SFTP (a real asyncssh server on 127.0.0.1, host key pinned) and
into a folder. A story, its correction and its kill arrive as three schema-valid NewsML-G2 files in
order; a server down for a while gets everything once it is back, once per file name; a server with
another host key is refused, saying so in the attempt log; credentials never show."""

from __future__ import annotations

from pathlib import Path

import asyncssh
from lxml import etree

from tests.support import wait_for, xml_schema
from tests.support_servers import FtpServer, SftpServer, SmtpServer

STORY = {"headline": "US returns to Central Asia", "body_text": "Talks with Kazakhstan resume.\n\nMore follows."}
G2 = {"g": "http://iptc.org/std/nar/2006-10-01/"}


def subscribe(stack, name: str, channel: dict, output_format: str = "newsml-g2") -> dict:
    with stack.client(stack.admin_key) as admin:
        created = admin.post("/v1/subscribers", json={"name": name, "channel": channel, "format": output_format})
    assert created.status_code == 201, created.text
    return created.json()


def sftp_channel(server: SftpServer, host_key: str | None = None) -> dict:
    return {
        "type": "sftp",
        "host": "127.0.0.1",
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "host_key": host_key or server.public_key,
        "path": "incoming",
    }


def deliveries(stack, subscriber_id: str) -> list[dict]:
    with stack.client(stack.admin_key) as admin:
        return admin.get(f"/v1/subscribers/{subscriber_id}/deliveries").json()["items"]


def attempts(stack, subscriber_id: str) -> list[dict]:
    return [attempt for item in deliveries(stack, subscriber_id) for attempt in item["attempts"]]


NITF = {"n": "http://iptc.org/std/NITF/2006-10-18/"}


def ftp_channel(server: FtpServer, **extra) -> dict:
    """The channel object for an FTP test server (``tls=True`` for FTPS)."""
    login = {"username": server.username, "password": server.password}
    return {"type": "ftp", "host": "127.0.0.1", "port": server.port, **login, "path": "/", **extra}


def valid_nitf(paths) -> list:
    """The NITF files' root elements, each checked against the NITF 3.6 schema."""
    schema = xml_schema("nitf-3-6.xsd")
    docs = [etree.parse(str(path)).getroot() for path in paths]
    assert all(schema.validate(doc) for doc in docs)
    return docs


def file_story(stack) -> tuple[dict, str]:
    with stack.client(stack.editor_key) as api:
        answer = api.post("/v1/stories", json=STORY)
    assert answer.status_code == 202, answer.text
    return answer.json(), f"/v1/stories/{answer.json()['id']}"


def correct_then_kill(stack, path: str, arrived) -> None:
    """File the story's correction once version 1 arrived, then its kill once version 2 did, and
    wait for the kill: ``arrived(n)`` says whether version ``n`` is at the site."""
    with stack.client(stack.editor_key) as api:
        assert api.post(f"{path}/corrections", json={**STORY, "note": "Corrects the day"}).status_code == 202
        wait_for(lambda: arrived(2), timeout=60, what="version 2")
        assert api.post(f"{path}/kill", json={"reason": "Legal: withdrawn"}).status_code == 202
    wait_for(lambda: arrived(3), timeout=60, what="version 3")


def test_a_story_its_correction_and_its_kill_reach_an_sftp_site_as_three_newsml_g2_files(stack, tmp_path):
    (tmp_path / "incoming").mkdir()
    server = SftpServer(tmp_path)
    try:
        site = subscribe(stack, f"sftp-{server.port}", sftp_channel(server))
        assert site["channel"]["credentials"] == ["password"] and "password" not in site["channel"]
        story, path = file_story(stack)
        names = [tmp_path / "incoming" / f"{story['id']}-v{n}.xml" for n in (1, 2, 3)]
        wait_for(names[0].exists, timeout=60, what="version 1 on the SFTP server")
        correct_then_kill(stack, path, lambda n: names[n - 1].exists())
        schema = xml_schema("NewsML-G2_2.35-spec-All-Power.xsd")
        roots = [etree.parse(str(name)).getroot() for name in names]
        assert all(schema.validate(root) for root in roots), [str(e) for e in schema.error_log]
        assert [r.get("version") for r in roots] == ["1", "2", "3"]
        statuses = [r.find("g:itemMeta/g:pubStatus", G2).get("qcode") for r in roots]
        assert statuses == ["stat:usable", "stat:usable", "stat:canceled"]
        modified = [name.stat().st_mtime_ns for name in names]
        assert modified == sorted(modified)  # in order
        assert sorted(p.name for p in (tmp_path / "incoming").iterdir()) == sorted(n.name for n in names)
        _credentials_never_show(stack, site, server.password)
        names[2].unlink()  # the site lost the kill: a replay of a killed story sends its kill again, same name
        with stack.client(stack.admin_key) as admin:
            replayed = admin.post(f"/v1/subscribers/{site['id']}/replay", json={"story_id": story["id"]})
        assert replayed.status_code in (200, 202), replayed.text
        wait_for(names[2].exists, timeout=60, what="the kill written again by the replay")
        assert sorted(p.name for p in (tmp_path / "incoming").iterdir()) == sorted(n.name for n in names)
    finally:
        server.close()


def _credentials_never_show(stack, site: dict, password: str) -> None:
    with stack.client(stack.admin_key) as admin:
        shown = admin.get(f"/v1/subscribers/{site['id']}").text + admin.get("/v1/subscribers").text
        shown += admin.get(f"/v1/subscribers/{site['id']}/deliveries").text
    assert password not in shown
    for log in Path(stack.data_dir).glob("*.log"):
        assert password not in log.read_text(errors="replace"), log.name


def test_an_sftp_site_down_for_a_while_gets_everything_once_back(stack, tmp_path):
    (tmp_path / "incoming").mkdir()
    server = SftpServer(tmp_path)
    try:
        site = subscribe(stack, f"sftp-down-{server.port}", sftp_channel(server))
        server.stop()
        story, _path = file_story(stack)
        wait_for(lambda: any(a["error"] for a in attempts(stack, site["id"])), timeout=60, what="a failed attempt")
        server.start()
        stored = tmp_path / "incoming" / f"{story['id']}-v1.xml"
        wait_for(stored.exists, timeout=60, what="the story once the server is back")
        wait_for(lambda: deliveries(stack, site["id"])[0]["state"] == "delivered", timeout=30, what="it recorded")
        tried = deliveries(stack, site["id"])[0]["attempts"]
        assert len(tried) >= 2 and tried[0]["error"] and tried[-1]["error"] is None
        assert [p.name for p in (tmp_path / "incoming").iterdir()] == [stored.name]  # once, nothing half-written
    finally:
        server.close()


def test_a_server_with_another_host_key_is_refused_and_the_attempt_log_says_why(stack, tmp_path):
    (tmp_path / "incoming").mkdir()
    server = SftpServer(tmp_path)
    try:
        impostor_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
        site = subscribe(stack, f"sftp-key-{server.port}", sftp_channel(server, host_key=impostor_key))
        file_story(stack)
        wait_for(lambda: attempts(stack, site["id"]), timeout=60, what="an attempt")
        error = attempts(stack, site["id"])[-1]["error"]
        assert "host key refused" in error
        assert list((tmp_path / "incoming").iterdir()) == []
    finally:
        server.close()


def test_a_folder_site_gets_a_story_its_correction_and_its_kill_even_after_it_was_unwritable(stack):
    site = subscribe(stack, "hot-folder", {"type": "folder", "path": "cms/wire"}, output_format="nitf")
    assert site["url"] == "folder:cms/wire"
    folder = Path(stack.data_dir) / "folders" / "cms" / "wire"
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a folder")  # the share is gone: every write fails
    story, path = file_story(stack)
    wait_for(lambda: any(a["error"] for a in attempts(stack, site["id"])), timeout=60, what="a failed attempt")
    folder.unlink()  # back
    names = [folder / f"{story['id']}-v{n}.xml" for n in (1, 2, 3)]
    wait_for(names[0].exists, timeout=60, what="version 1 once the folder is back")
    correct_then_kill(stack, path, lambda n: names[n - 1].exists())
    docs = valid_nitf(names)
    n = NITF
    assert docs[2].find("n:head/n:docdata", n).get("management-status") == "canceled"
    assert sorted(p.name for p in folder.iterdir()) == sorted(name.name for name in names)  # no temporary left


def test_a_story_its_correction_and_its_kill_reach_an_ftp_site_as_nitf_even_after_it_was_down(stack, tmp_path):
    server = FtpServer(tmp_path)
    try:
        site = subscribe(stack, f"ftp-{server.port}", ftp_channel(server), output_format="nitf")
        assert site["url"] == f"ftp://wire@127.0.0.1:{server.port}/" and "password" not in site["channel"]
        server.stop()
        story, path = file_story(stack)
        wait_for(lambda: any(a["error"] for a in attempts(stack, site["id"])), timeout=60, what="a failed attempt")
        server.start()
        names = [tmp_path / f"{story['id']}-v{n}.xml" for n in (1, 2, 3)]
        wait_for(names[0].exists, timeout=60, what="version 1 once the server is back")
        correct_then_kill(stack, path, lambda n: names[n - 1].exists())
        docs = valid_nitf(names)
        n = NITF
        assert [d.find("n:head/n:docdata", n).get("management-status") for d in docs] == [
            "usable",
            "usable",
            "canceled",
        ]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(name.name for name in names)
        _credentials_never_show(stack, site, server.password)
    finally:
        server.close()


def test_an_email_site_gets_one_message_per_version_with_a_stable_message_id(stack):
    server = SmtpServer()
    try:
        channel = {
            "type": "email",
            "host": "127.0.0.1",
            "port": server.port,
            "starttls": False,
            "from": "wire@newswire.test",
            "to": ["desk@site.test", "archive@site.test"],
        }
        site = subscribe(stack, f"mail-{server.port}", channel, output_format="newsml-g2")
        assert (
            site["channel"]["from"] == "wire@newswire.test" and site["url"] == "mailto:desk@site.test,archive@site.test"
        )
        server.stop()
        story, path = file_story(stack)
        wait_for(lambda: any(a["error"] for a in attempts(stack, site["id"])), timeout=60, what="a failed attempt")
        server.start()
        wait_for(lambda: len(server.messages) >= 1, timeout=60, what="the first message once the server is back")
        correct_then_kill(stack, path, lambda n: len(server.messages) >= n)
        mails = server.messages
        ids = [m["Message-ID"] for m in mails]
        assert len(set(ids)) == 3
        expected = {f"<{d['message_id']}@newswire>" for d in deliveries(stack, site["id"])}
        assert set(ids) == expected  # the delivery's webhook-id: the same on any retry
        assert [m["To"] for m in mails] == ["desk@site.test, archive@site.test"] * 3
        attached = [next(m.iter_attachments()) for m in mails]
        assert [a.get_filename() for a in attached] == [f"{story['id']}-v{n}.xml" for n in (1, 2, 3)]
        schema = xml_schema("NewsML-G2_2.35-spec-All-Power.xsd")
        roots = [
            etree.fromstring(a.get_content() if isinstance(a.get_content(), bytes) else a.get_content().encode())
            for a in attached
        ]
        assert all(schema.validate(root) for root in roots)
        assert roots[2].find("g:itemMeta/g:pubStatus", G2).get("qcode") == "stat:canceled"
    finally:
        server.close()
