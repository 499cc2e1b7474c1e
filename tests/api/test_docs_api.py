"""/v1/docs: the reference page works offline, its scripts and styles served by Cogmill itself."""

import re

import httpx


def test_docs_page_and_every_asset_it_loads_are_served_here(cogmill):
    page = httpx.get(f"{cogmill.base_url}/v1/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(url.startswith("/static/") for url in assets), assets  # no CDN
    assert {"/static/ninja/swagger-ui-bundle.js", "/static/ninja/swagger-ui.css"} <= set(assets)
    for url in assets:
        assert httpx.get(f"{cogmill.base_url}{url}").status_code == 200, url


def test_docs_page_reads_the_document_it_serves(cogmill):
    page = httpx.get(f"{cogmill.base_url}/v1/docs").text
    assert '"url": "/v1/openapi.json"' in page
    assert '"validatorUrl": null' in page  # no badge fetched from validator.swagger.io
    document = httpx.get(f"{cogmill.base_url}/v1/openapi.json").json()
    assert document["info"]["title"] == "Cogmill API"
