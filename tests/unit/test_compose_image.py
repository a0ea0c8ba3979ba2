"""infra/Dockerfile and .dockerignore, read as text (no Docker engine here to build the image):
two stages, dependencies before code, a non-editable install, a non-root user, a healthcheck; the
build context leaves out what must not be in it and keeps everything the image needs."""

import re

import pytest

from tests.support import REPO

DOCKERFILE = REPO / "infra" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _copy_sources(args: str) -> list[str]:
    words = [w for w in args.split() if not w.startswith("--")]
    return words[:-1]


def test_two_stages_builder_then_runtime():
    stages = _stages()
    assert len(stages) >= 2
    assert re.search(r"\bAS builder\b", stages[0][0][1], re.IGNORECASE)
    runtime = stages[-1]
    assert any(op == "COPY" and "--from=builder" in args and "/opt/venv" in args for op, args in runtime)
    assert not any(op == "RUN" and "pip install" in args for op, args in runtime), "nothing is built at runtime"


def test_dependencies_are_installed_before_the_code_is_copied():
    builder = _stages()[0]
    position = {}
    for index, (op, args) in enumerate(builder):
        if op == "COPY":
            for source in _copy_sources(args):
                position.setdefault(source, index)
        if op == "RUN" and "constraints.txt" in args and "pip install" in args:
            position.setdefault("deps", index)
        if op == "RUN" and re.search(r"pip install --no-deps \.(\s|$)", args):
            position.setdefault("project", index)
    for early in ("pyproject.toml", "constraints.txt", "infra/requirements"):
        assert position[early] < position["deps"], early
    for code in ("shared", "services", "README.md"):
        assert position["deps"] < position[code] < position["project"], code


def test_the_project_is_not_installed_editable():
    text = " ".join(args for op, args in _instructions() if op == "RUN")
    assert not re.search(r"pip install[^&;]*\s(-e|--editable)\s", text)
    assert "pip install --no-deps ." in text
    assert "MIGRATIONS_DIR" in text, "the build checks that `newswire migrate` finds its migrations"


def test_runtime_runs_as_an_unprivileged_user_with_a_healthcheck():
    runtime = _stages()[-1]
    users = [args for op, args in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"--uid 10001\b", DOCKERFILE.read_text()), "docker-compose.yml gives the secrets to uid 10001"
    assert any(op == "HEALTHCHECK" and "/healthz" in args for op, args in runtime)
    env = " ".join(args for op, args in runtime if op == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env


def test_every_copied_path_exists():
    for op, args in _instructions():
        if op == "COPY" and "--from=" not in args:
            for source in _copy_sources(args):
                assert (REPO / source).exists(), source


def _ignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """.dockerignore as (exclude?, regex), with Docker's matching: `**` any number of directories,
    `*` and `?` within one path element; a pattern that matches a directory excludes its contents."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((exclude, re.compile(regex + "(?:/.*)?")))
    return patterns


def _excluded(path: str) -> bool:
    result = False
    for exclude, regex in _ignore_patterns():
        if regex.fullmatch(path):
            result = exclude
    return result


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".newswire/dev-keys.json",
        ".env",
        ".env.production",
        "tests/unit/x.py",
        "shared/__pycache__/db.cpython-311.pyc",
        ".pytest_cache/v",
        ".ruff_cache/x",
        "newswire.egg-info/PKG-INFO",
        "bench/out/run.json",
    ],
)
def test_dockerignore_keeps_out(path):
    assert _excluded(path), path


def test_dockerignore_keeps_everything_the_image_copies():
    for op, args in _instructions():
        if op != "COPY" or "--from=" in args:
            continue
        for source in _copy_sources(args):
            root = REPO / source
            files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
            for file in files:
                relative = file.relative_to(REPO).as_posix()
                if "__pycache__" in relative:
                    continue
                assert not _excluded(relative), relative
