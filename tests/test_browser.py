"""The report in a real browser: headless Chromium (the system's package) opens every page from file://.

Every page loads with no console error and no request outside the report, every image renders,
every internal link reaches an existing file and anchor, no script runs (the hostile entry's text
stays text), and a screenshot of the index is not blank.  Skipped without Chromium, unless
ACTLAB_REQUIRE_BROWSER=1, where a missing browser fails.  Playwright drives the browser it is
given (``executable_path``); it never downloads one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from .test_report import small_report

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
REQUIRED = os.environ.get("ACTLAB_REQUIRE_BROWSER") == "1"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    if REQUIRED:
        pytest.fail("ACTLAB_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("no chromium on PATH")


@pytest.fixture(scope="module")
def browser_visit(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Open every page of the session's report once; what the browser saw, per page."""
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRED:
            pytest.fail("ACTLAB_REQUIRE_BROWSER=1 but playwright is not installed (pip install '.[test]')")
        pytest.skip("playwright is not installed")
    root = small_report(tmp_path_factory.getbasetemp())
    shot = tmp_path_factory.mktemp("screenshots") / "index.png"
    seen: dict = {"root": root, "pages": {}, "screenshot": shot, "dialogs": [], "foreign": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
            page.on(
                "request",
                lambda r: None if r.url.startswith(("file:", "data:")) else seen["foreign"].append(r.url),
            )
            for html in sorted(root.rglob("*.html")):
                errors: list[str] = []
                on_console = lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None  # noqa: E731
                on_error = lambda e, errors=errors: errors.append(str(e))  # noqa: E731
                page.on("console", on_console)
                page.on("pageerror", on_error)
                response = page.goto(html.as_uri(), wait_until="load")
                page.wait_for_function("Array.from(document.images).every(i => i.complete)")
                seen["pages"][html] = {
                    "ok": response is None or response.ok,
                    "errors": errors,
                    "images": page.eval_on_selector_all("img", "els => els.map(i => [i.src, i.naturalWidth])"),
                    "links": page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"),
                    "ids": set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")),
                    "title": page.title(),
                }
                if html == root / "index.html":
                    page.screenshot(path=str(shot))
                page.remove_listener("console", on_console)
                page.remove_listener("pageerror", on_error)
        finally:
            browser.close()
    return seen


def test_every_page_loads_without_errors(browser_visit: dict) -> None:
    pages = browser_visit["pages"]
    assert len(pages) >= 13  # index, phenomena, experiments and a page per activation
    for path, seen in pages.items():
        assert seen["ok"] and seen["errors"] == [], (path, seen["errors"])
        assert seen["title"].endswith("actlab report"), path
    assert browser_visit["foreign"] == []  # offline: nothing but files of the report and data: URLs
    assert browser_visit["dialogs"] == []  # no user text ran as script


def test_every_image_renders(browser_visit: dict) -> None:
    count = 0
    for path, seen in browser_visit["pages"].items():
        for src, width in seen["images"]:
            assert width > 0, (path, src)
            count += 1
    assert count >= 15


def test_every_internal_link_resolves(browser_visit: dict) -> None:
    pages = browser_visit["pages"]
    checked = 0
    for path, seen in pages.items():
        for href in seen["links"]:
            url = urlsplit(href)
            if url.scheme in ("http", "https"):
                continue  # papers: the one kind of external link
            assert url.scheme == "file", (path, href)
            target = Path(unquote(url.path))
            assert target.is_file(), (path, href)
            if url.fragment:
                assert url.fragment in pages[target]["ids"], (path, href)
            checked += 1
    assert checked > 50


def test_index_screenshot_is_not_blank(browser_visit: dict) -> None:
    from matplotlib import image

    pixels = image.imread(browser_visit["screenshot"])
    assert pixels.shape[0] >= 800 and pixels.shape[1] >= 1200
    assert pixels[..., :3].std() > 0.05  # text, tables and a figure, not one flat colour


def test_a_required_browser_that_is_missing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    module = sys.modules[__name__]
    monkeypatch.setattr(module, "REQUIRED", True)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="ACTLAB_REQUIRE_BROWSER=1"):
        _chromium()
