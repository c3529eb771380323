"""/docs and /redoc render the REST API in a real browser with no network: their scripts come from kb itself."""
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install chromium fonts-noto-cjk"),
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
]


@pytest.fixture(scope="module")
def offline_page():
    """open(url) -> a page in a browser context where every request to a host other than 127.0.0.1 fails.

    Returns the opener and the list of the requests that tried to leave the machine.
    """
    from playwright.sync_api import sync_playwright
    left = []

    def only_loopback(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            return route.continue_()
        left.append(route.request.url)
        return route.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        context.route("**/*", only_loopback)

        def open_(url):
            page = context.new_page()
            page.goto(url)
            return page

        yield open_, left
        browser.close()


def test_docs_lists_the_operations_offline(live, offline_page):
    from playwright.sync_api import expect
    open_, left = offline_page
    page = open_(f"{live.url}/docs")
    for path in ("/api/v1/ask", "/api/v1/ask/stream", "/api/v1/search", "/api/v1/feedback", "/healthz"):
        expect(page.locator(".opblock-summary-path", has_text=path).first).to_be_visible()
    # Open one operation: its request example is there too.
    page.locator(".opblock-summary-path", has_text="/api/v1/search").first.click()
    expect(page.get_by_text("Words or a question.")).to_be_visible()
    assert left == []


def test_redoc_renders_offline(live, offline_page):
    from playwright.sync_api import expect
    open_, left = offline_page
    page = open_(f"{live.url}/redoc")
    expect(page.locator("h2", has_text="Ask").first).to_be_visible()
    expect(page.get_by_text("/api/v1/ask/stream").first).to_be_attached()
    assert left == []
