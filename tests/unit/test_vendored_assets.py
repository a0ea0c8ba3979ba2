"""The vendored htmx files are the published ones, named by their version, and every script a page
loads is one of them (served from /static, never from elsewhere)."""

import hashlib
import re

from tests.support import REPO

WEB = REPO / "services" / "ingest" / "web"


def _recorded() -> dict[str, str]:
    text = (WEB / "static" / "VENDORED.md").read_text()
    return dict(re.findall(r"\| `([^`]+\.js)` \|.*\| `([0-9a-f]{64})` \|", text))


def test_vendored_files_match_their_recorded_hashes():
    recorded = _recorded()
    assert set(recorded) == {p.name for p in (WEB / "static").glob("*.js")} and recorded
    for name, digest in recorded.items():
        assert hashlib.sha256((WEB / "static" / name).read_bytes()).hexdigest() == digest, name


def test_pages_load_only_the_vendored_scripts_and_no_inline_ones():
    for template in (WEB / "templates").rglob("*.html"):
        text = template.read_text()
        sources = re.findall(r"<script([^>]*)>", text)
        for attributes in sources:
            source = re.search(r'src="/static/([^"]+)"', attributes)
            assert source and source.group(1) in _recorded(), f"{template.name}: <script{attributes}>"
        assert "style=" not in text and not re.search(r"\son[a-z]+=", text), template.name
