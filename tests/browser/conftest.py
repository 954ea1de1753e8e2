"""Serve the built site (_build/html) on localhost and drive Debian's Chromium headless with Playwright."""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def site_root() -> Path:
    if not (HTML / "index.html").exists():
        pytest.fail("no built site in _build/html: run `make book` first")
    return HTML


@pytest.fixture(scope="session")
def site_url(site_root):
    handler = functools.partial(_QuietHandler, directory=str(site_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium on this machine and `make site-test` could not install Debian's chromium package")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make site-test installs it)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, site_url):
    """A fresh page that records console errors, failed requests and any request that leaves localhost."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_errors, page.failed, page.external = [], [], []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    page.on("requestfailed", lambda r: page.failed.append(f"{r.url} ({r.failure})"))

    def route(r):
        if r.request.url.startswith(site_url) or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            page.external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    yield page
    context.close()
