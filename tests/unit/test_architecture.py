"""The ingest, enrichment and publish services never import each other: each is a package
you can read and deploy alone, talking to the others only through the database and the queue."""

import ast
from pathlib import Path

import pytest

from tests.support import REPO

SERVICES = ("ingest", "enrichment", "publish")


def imported_modules(package: Path) -> set[str]:
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service):
    modules = imported_modules(REPO / "services" / service)
    others = [m for m in modules for o in SERVICES if o != service and m.startswith(f"services.{o}")]
    assert others == []
    assert any(m.startswith("shared") for m in modules)


def test_shared_imports_no_service():
    assert not [m for m in imported_modules(REPO / "shared") if m.startswith("services")]
