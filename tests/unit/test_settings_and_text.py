import pytest
from pydantic import ValidationError

from shared.config import Settings
from shared.text import html_to_text, sanitize_html


def test_defaults_are_embedded(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert settings.sqlalchemy_url == f"sqlite:///{(tmp_path / 'newswire.db').resolve()}"
    assert settings.webhook_allowed_networks == []


def test_postgres_urls_use_psycopg():
    assert Settings(database_url="postgres://u@h/db").sqlalchemy_url == "postgresql+psycopg://u@h/db"
    assert Settings(database_url="postgresql://u@h/db").sqlalchemy_url == "postgresql+psycopg://u@h/db"


def test_allowed_networks_from_env(monkeypatch):
    monkeypatch.setenv("NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8, ::1/128")
    assert Settings().webhook_allowed_networks == ["127.0.0.0/8", "::1/128"]
    monkeypatch.setenv("NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS", "not-a-network")
    with pytest.raises(ValidationError):
        Settings()


def test_production_refuses_embedded_defaults():
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(env="production", redis_url="redis://r")
    with pytest.raises(ValidationError, match="REDIS_URL"):
        Settings(env="production", database_url="postgresql://u@h/db")
    Settings(env="production", database_url="postgresql://u@h/db", redis_url="redis://r")


def test_broker_url_must_be_set():
    with pytest.raises(RuntimeError, match="NEWSWIRE_REDIS_URL"):
        _ = Settings(redis_url=None).broker_url


def test_html_is_sanitised_and_flattened():
    dirty = '<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:bad()">there</a></p><p>A &amp; B</p>'
    clean = sanitize_html(dirty)
    assert "script" not in clean and "onclick" not in clean and "javascript" not in clean
    assert html_to_text(clean).split() == ["Hi", "there", "A", "&", "B"]


def test_cli_refuses_unknown_role(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "keys", "create", "--role", "boss", "--name", "x"],
        capture_output=True,
        text=True,
        env={"NEWSWIRE_DATA_DIR": str(tmp_path), "PATH": ""},
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown role 'boss'" in done.stderr
