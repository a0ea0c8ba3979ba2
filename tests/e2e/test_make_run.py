"""`newswire run` (what `make run` calls): embedded Redis, SQLite, every service, seeds.
The seed story must arrive signature-verified at the reference receiver, a story posted with
the printed editor key must follow, and Ctrl-C must stop everything."""

import os
import re
import signal
import subprocess
import sys
import threading

import httpx

from shared.embedded_redis import free_port
from tests.support import wait_for


def test_run_carries_seed_and_posted_stories_then_stops_cleanly(tmp_path):
    api_port, receiver_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env.update(
        NEWSWIRE_DATA_DIR=str(tmp_path / "data"), NEWSWIRE_PORT=str(api_port), NEWSWIRE_RECEIVER_PORT=str(receiver_port)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda out=lines: any("Newswire is running." in line for line in out), timeout=90, what="the banner")
        output = "".join(lines)
        editor_key = re.search(r"Editor key\s+(\S+)", output).group(1)
        assert re.search(r"Admin key\s+nw_\S+", output)
        assert f"http://127.0.0.1:{api_port}/docs" in output
        desk_url = re.search(r"Wire desk\s+(\S+)", output).group(1)
        assert desk_url == f"http://127.0.0.1:{api_port}/desk"
        _sign_in_to_the_desk(desk_url, editor_key)

        wait_for(
            lambda: any(
                "received story.published" in line
                and "Central Asia" in line
                and "KZ" in line
                and "signature verified" in line
                for line in lines
            ),
            timeout=30,
            what="the seed story at the receiver",
        )

        answer = httpx.post(
            f"http://127.0.0.1:{api_port}/v1/stories",
            headers={"Authorization": f"Bearer {editor_key}"},
            json={"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."},
        )
        assert answer.status_code == 202, answer.text
        story_id = answer.json()["id"]
        wait_for(
            lambda: any(story_id in line and "TJ" in line for line in lines),
            timeout=30,
            what="the posted story at the receiver",
        )
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0, "".join(lines)[-3000:]
    for port in (api_port, receiver_port):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            raise AssertionError(f"port {port} still answers after Ctrl-C")
        except httpx.ConnectError:
            pass


def test_run_twice_keeps_keys_and_does_not_reseed(tmp_path):
    """A second start on the same data directory reuses keys and adds no story."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env.update(
        NEWSWIRE_DATA_DIR=str(tmp_path / "data"),
        NEWSWIRE_PORT=str(free_port()),
        NEWSWIRE_RECEIVER_PORT=str(free_port()),
    )
    outputs = []
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        threading.Thread(target=lambda out=lines, p=proc: out.extend(iter(p.stdout.readline, "")), daemon=True).start()
        try:
            wait_for(
                lambda out=lines: any("Newswire is running." in line for line in out), timeout=90, what="the banner"
            )
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 0
        outputs.append("".join(lines))
    keys = [re.search(r"Editor key\s+(\S+)", out).group(1) for out in outputs]
    stories = [re.search(r"Seed stories\s+(.+)", out).group(1) for out in outputs]
    assert keys[0] == keys[1]
    assert stories[0] == stories[1]


def _sign_in_to_the_desk(desk_url: str, editor_key: str) -> None:
    """The printed desk URL and editor key are all a newcomer needs to reach the desk."""
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        form = browser.get(desk_url)  # not signed in yet: the sign-in form
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        desk = browser.post(str(form.url.copy_with(query=None)), data={"key": editor_key, "csrf_token": token})
        assert desk.status_code == 200 and "Wire desk" in desk.text and "File a story" in desk.text
