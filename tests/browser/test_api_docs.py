"""``/api/docs`` in a real browser: the vendored Swagger UI renders the node's OpenAPI document with
nothing fetched from outside the machine (the grid's networks have no CDN)."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.browser.conftest import is_foreign


def test_vendored_swagger_ui_renders_the_openapi_document_offline(tab, shared_node):
    """Swagger UI (from ``node/static/vendor``) loads, fetches ``/api/v1/openapi.json`` and renders the
    run operations as clickable blocks; expanding one shows its request body; every request the page
    made went to the node itself and no script raised."""
    page = tab.page
    page.goto(shared_node.url + "/api/docs")

    start_run = page.locator(".opblock.opblock-post", has=page.locator('[data-path="/api/v1/runs"]'))
    start_run.wait_for(state="visible")
    assert page.locator(".opblock", has=page.locator('[data-path="/api/v1/runs/{run_id}/stop"]')).count() == 1
    assert page.locator(".opblock-tag").count() >= 3
    assert page.locator(".info .title").inner_text().startswith("RPA province node management API")

    start_run.locator(".opblock-summary").first.click()
    body = start_run.locator(".opblock-body")
    body.wait_for(state="visible")
    assert "appId" in body.inner_text()

    paths = [urlsplit(u).path for u in tab.requests]
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in paths
    assert "/static/vendor/swagger-ui/swagger-ui.css" in paths
    assert "/api/v1/openapi.json" in paths
    assert [u for u in tab.requests if is_foreign(u)] == []
    assert tab.foreign == []
    assert tab.errors == []
    assert all(status < 400 for status, _, _ in tab.responses), tab.responses
