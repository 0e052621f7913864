"""Real-browser fixtures: the OS's Chromium (``/usr/bin/chromium``) driven by Playwright.

Playwright's own browser downloads are never used (``playwright install`` needs the internet); the
pip wheel brings only the driver. Outside CI a missing Chromium or Playwright skips these tests with
the reason; in CI (``CI=true``; ``.ci/run`` installs Debian's ``chromium``) it is a failure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import IN_CI, LiveNode

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"{reason}: CI must provide it (.ci/run installs chromium, pip installs .[dev])")
    pytest.skip(f"{reason} (CI runs these browser tests for real)")


def is_foreign(url: str) -> bool:
    """A network request that leaves this machine (data:, blob:, about: never do)."""
    parts = urlsplit(url)
    return parts.scheme in {"http", "https", "ws", "wss", "ftp"} and parts.hostname not in LOCAL_HOSTS


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for these tests, launched from the OS package."""
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is missing (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A page in a fresh browser context, with what it asked the network for and what broke in it."""

    page: object
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    responses: list[tuple[int, str, str]] = field(default_factory=list)  # (status, method, url)


@pytest.fixture
def tab(browser):
    """A fresh context (no cookies) whose browser language is English, so Chinese on a page is the
    page's own choice. Requests leaving the machine are recorded and aborted (the grid has no internet);
    JavaScript errors and console errors are recorded."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    t = Tab(page)
    page.on("request", lambda req: t.requests.append(req.url))
    page.on("response", lambda resp: t.responses.append((resp.status, resp.request.method, resp.url)))
    page.on("pageerror", lambda exc: t.errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and t.errors.append(f"console: {msg.text}"))

    def abort_foreign(route) -> None:
        t.foreign.append(route.request.url)
        route.abort()

    context.route(is_foreign, abort_foreign)
    yield t
    context.close()


@pytest.fixture(scope="package")
def shared_node(tmp_path_factory):
    """A real node process shared by the browser tests that change nothing on it (saves a start)."""
    node = LiveNode(tmp_path_factory.mktemp("browser") / f"node-{uuid.uuid4().hex[:6]}").start()
    yield node
    node.stop()
