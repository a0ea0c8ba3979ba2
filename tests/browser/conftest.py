"""The browser suite (``make test-browser``): the whole stack as separate processes (Redis, the
API, one worker per stage, the scheduler, a reference receiver) and Playwright driving the
system's Chromium (Debian's ``chromium`` package; ``NEWSWIRE_CHROMIUM`` names another binary).
Playwright's own browser download is never used."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.integration.conftest import running_stack
from tests.support import REPO

SCREENSHOTS = REPO / "docs" / "screenshots"
#: Chromium's own calls home are refused on a closed network; these flags keep it quiet and fast.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = os.environ.get("NEWSWIRE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            "no Chromium found: install Debian's package (sudo apt-get install chromium), or set "
            "NEWSWIRE_CHROMIUM to a Chromium binary; 'make test-browser' installs it when it can",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """SQLite only: the pages run on the same service functions the API suite covers on both."""
    yield from running_stack("sqlite", tmp_path_factory.mktemp("browser-stack"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


class Watched:
    """A page and what went wrong on it: console errors (a CSP violation is one), uncaught
    script errors, dialogs (an ``alert`` from an injected script would be one)."""

    def __init__(self, page: Page):
        self.page, self.errors, self.dialogs, self.navigations = page, [], [], 0
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", self._dialog)
        page.on("framenavigated", self._navigated)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _navigated(self, frame) -> None:
        if frame == self.page.main_frame:
            self.navigations += 1


@pytest.fixture
def watched(browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    yield Watched(context.new_page())
    context.close()


def sign_in(watched: Watched, stack, key: str) -> None:
    page = watched.page
    page.goto(f"{stack.api_url}/signin")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/signin" not in url)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
