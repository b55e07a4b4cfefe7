"""The moderators' page (``GET /``, files under ``api/static``) and ``/docs``, both served with no CDN.

The page is plain HTML, CSS and JavaScript modules shipped in the package: no build step, no Node. Its
Content-Security-Policy allows nothing but this origin, so a page that worked in a test can not quietly
depend on the internet. Two things are filled in as it is served: the drop zone's list of formats, read
from ``pipeline.sniff``, which decides what is accepted, and whether API keys are asked for at all
(``DEEPFAKE_AUTH``: with it off, on loopback, the page asks for none).

Swagger UI's files come from the ``fastapi-offline`` package (MIT; Swagger UI itself is Apache-2.0), of
which only the files are used: its Swagger UI is 5.x, which reads the OpenAPI 3.1 that FastAPI writes
(``swagger-ui-bundle``'s 4.x could not).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.deps import SettingsDep
from pipeline.sniff import accepted_formats

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))
# blob: for the job's own media fetched with the key; data: for the inline favicon.
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
router = APIRouter(include_in_schema=False)


@router.get("/")
def page(settings: SettingsDep) -> HTMLResponse:
    html = (STATIC / "index.html").read_text().replace("{{accepted_formats}}", accepted_formats())
    html = html.replace("{{auth}}", settings.auth)  # "on" or "off": a Literal, safe in an attribute
    return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})


@router.get("/docs")
def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Deepfake detection service: API",
                               swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                               swagger_css_url="/docs-assets/swagger-ui.css",
                               swagger_favicon_url="/docs-assets/favicon.png")


def install(app: FastAPI) -> None:
    """The page, its files, and the offline docs (the app is created with ``docs_url=None``)."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
