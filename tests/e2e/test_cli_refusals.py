"""The CLI answers refusals in one line on stderr with a non-zero exit code, never a traceback."""

import os

import pytest

from tests.support import newswire


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env["NEWSWIRE_DATA_DIR"] = str(tmp_path)
    return env


def refused(done, code=2):
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    return done.stderr


def test_keys_refusals(env):
    assert newswire(["migrate"], env).returncode == 0
    assert "revoked" not in refused(newswire(["keys", "revoke", "no-such-key"], env))
    refused(newswire(["keys", "create", "--role", "superuser", "--name", "x"], env))
    created = newswire(["keys", "create", "--role", "admin", "--name", "ops"], env)
    assert created.returncode == 0
    listed = newswire(["keys", "list"], env)
    assert listed.returncode == 0 and " ops" in listed.stdout
    key_id = [line.split()[0] for line in listed.stdout.splitlines() if line.endswith(" ops")][0]
    assert "last active admin key" in refused(newswire(["keys", "revoke", key_id], env))
    newswire(["keys", "create", "--role", "admin", "--name", "ops 2"], env)
    revoked = newswire(["keys", "revoke", key_id], env)
    assert revoked.returncode == 0 and "revoked admin key 'ops'" in revoked.stdout


def test_an_unmigrated_database_is_explained(env):
    assert "newswire migrate" in refused(newswire(["keys", "list"], env), code=1)


def test_bad_settings_are_explained(env):
    env["NEWSWIRE_ENV"] = "production"
    assert "PostgreSQL" in refused(newswire(["keys", "list"], env))
