"""Intranets are offline: a page loads nothing from another host, the API documentation included."""

from urllib.parse import urlsplit

import pytest

from tests.e2e.test_department_and_office import login

DOC_PAGES = ["/api/docs/", "/api/redoc/"]


@pytest.mark.e2e
@pytest.mark.parametrize("path", DOC_PAGES)
def test_it_loads_the_api_documentation_without_asking_any_other_host(demo, live_server, desktop_page, path):
    page = desktop_page
    ours = urlsplit(live_server.url).netloc
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    login(page, live_server.url, "culture")
    page.goto(live_server.url + path)
    # the documentation has rendered from the schema: an operation of the API is on the page
    page.get_by_text("/api/v1/feed").first.wait_for()
    page.wait_for_load_state("networkidle")
    outside = [url for url in asked if url.startswith(("http:", "https:")) and urlsplit(url).netloc != ours]
    assert outside == [], outside
    assert len(asked) > 3  # the page, its scripts, the schema: the listener saw them


def test_every_page_tells_the_browser_to_load_nothing_from_another_host(client):
    # the browser's own guard for whatever a page or a vendored script might add later
    policy = client.get("/login/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for directive, sources in directives.items():
        assert "http" not in sources and "*" not in sources, (directive, sources)
