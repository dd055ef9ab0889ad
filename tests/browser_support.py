"""What the browser tests share: the portal served by uvicorn in a thread, Debian's chromium through Playwright
(never a downloaded browser), a guard that every request a page makes stays on the portal, and the login.

    with serve(create_app(settings, engine)) as base_url:     # http://127.0.0.1:<free port>
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page()
            guard = OffsiteGuard(page, base_url)
            sign_in(page, base_url, username, password)
            ...
            guard.check()                                      # no request left 127.0.0.1
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Response, sync_playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `make test` installs it when missing
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOST = "127.0.0.1"


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """`app` on uvicorn in a background thread, on a free port of 127.0.0.1: yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, started once for a test module (a module-scoped fixture wraps this)."""
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@dataclass
class Tab:
    page: Page
    guard: OffsiteGuard
    base_url: str


@contextmanager
def new_tab(browser: Browser, base_url: str, *, timeout_ms: int, downloads: bool = False) -> Iterator[Tab]:
    """A fresh browser context (no cookies), in Chinese at a desktop size, and its page; checked when the test
    is done: nothing left the portal, no script error."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=downloads)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    guard = OffsiteGuard(page, base_url)
    yield Tab(page, guard, base_url)
    context.close()
    guard.check()


class OffsiteGuard:
    """Records every request and response of `page`: `check()` fails on any request to a host other than the
    portal's (a CDN, a web font, a tracker), on a script error and on anything the page's Content Security
    Policy refused; `statuses(path)` gives the answers the portal gave to `path`."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.portal = urlsplit(base_url).netloc
        self.requests: list[str] = []
        self.responses: list[tuple[str, int]] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("response", self._answered)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:  # something the page's policy refused to load or run
            self.errors.append(message.text)

    def _answered(self, response: Response) -> None:
        self.responses.append((response.url, response.status))

    def offsite(self) -> list[str]:
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.netloc != self.portal:
                out.append(url)
        return out

    def statuses(self, path: str) -> list[int]:
        return [status for url, status in self.responses if urlsplit(url).path == path]

    def check(self) -> None:
        assert self.offsite() == [], f"requests outside the portal: {self.offsite()}"
        assert self.errors == [], f"script errors: {self.errors}"


def sign_in(page: Page, base_url: str, username: str, password: str, *, next_path: str = "") -> None:
    """The login page's form, as a person fills it in; returns once the browser has left /login."""
    page.goto(f"{base_url}/login{next_path}")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login-submit")
    page.wait_for_load_state("networkidle")
