"""The moderators' page and /docs are served by the API from packaged files, with nothing from the internet."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.routes_page import STATIC
from pipeline.sniff import ACCEPTED, format_name, sniff

# Anything that would make the browser fetch from another origin: absolute URLs in src/href/import/url().
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//"""
                      r"""|from\s+["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//""")
IMPORT = re.compile(r"""^import .* from "\./([\w.]+)";$""", re.MULTILINE)


def _client() -> TestClient:
    return TestClient(create_app())


def test_the_page_is_served_at_the_root_without_a_key():
    answer = _client().get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in answer.text
    # The browser itself refuses anything but this origin: a CDN dependency would break the page at once.
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")


def test_the_page_knows_whether_keys_are_asked_for():
    from core.settings import get_settings

    assert '<html lang="en" data-auth="on">' in _client().get("/").text
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: get_settings().model_copy(update={"auth": "off"})
    assert '<html lang="en" data-auth="off">' in TestClient(app).get("/").text


# The first bytes of each kind of file the service takes, as pipeline.sniff reads them.
HEADS = {"JPEG": b"\xff\xd8\xff\xe0", "PNG": b"\x89PNG\r\n\x1a\n", "WebP": b"RIFF\0\0\0\0WEBPVP8 ",
         "BMP": b"BM\0\0", "GIF": b"GIF89a", "TIFF": b"II*\x00", "AVIF": b"\0\0\0\x1cftypavif",
         "HEIC": b"\0\0\0\x18ftypheic", "MP4": b"\0\0\0\x18ftypisom", "MOV": b"\0\0\0\x14ftypqt  ",
         "WebM": b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01webm", "MKV": b"\x1a\x45\xdf\xa3\x9fmatroska",
         "AVI": b"RIFF\0\0\0\0AVI LIST"}


def test_the_drop_zone_names_every_format_the_service_takes():
    html = _client().get("/").text
    hint = re.search(r'<span id="drop-help"[^>]*>([^<]*)</span>', html).group(1)
    for name, head in HEADS.items():
        media = sniff(head.ljust(32, b"\0"))
        assert format_name(media) == name and name in hint, (name, hint)
        assert media in ACCEPTED, media  # the page's list is sniff's own
    assert len(ACCEPTED) == len(HEADS)  # a format sniff learns must be added here too
    assert hint.startswith("JPEG, PNG") and "{{" not in html


def test_every_module_the_page_imports_is_served_as_javascript():
    client = _client()
    pending, seen = ["app.js"], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        answer = client.get(f"/static/{name}")
        assert answer.status_code == 200, name
        assert "javascript" in answer.headers["content-type"]
        pending += [found for found in IMPORT.findall(answer.text) if found not in seen]
    assert seen == {p.name for p in STATIC.glob("*.js")}, "a module is shipped but never imported, or missing"
    assert _client().get("/static/style.css").status_code == 200


def test_no_shipped_file_loads_anything_from_another_origin():
    for path in STATIC.iterdir():
        assert not EXTERNAL.search(path.read_text()), path.name


def test_how_to_read_this_states_the_fusion_rule_of_the_model_card():
    """The fused score is a recalibrated maximum (``platt_max``), not the most suspicious detector's own score."""
    card = (Path(__file__).parent.parent / "pipeline/assets/default_model/MODEL_CARD.md").read_text()
    assert "`platt_max`" in card, "the model card's fusion rule changed: check the page's words against it"
    howto = " ".join((STATIC / "index.html").read_text().split("How to read this")[1].split())
    assert "taken from whichever is more suspicious" not in howto
    assert "calibrated again as one probability" in howto and "not the same" in howto


def test_the_static_files_are_package_data():
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert 'api = ["static/*"]' in pyproject
    assert not [p for p in STATIC.rglob("*") if p.is_dir()], "package-data lists static/* only: no subfolders"


def test_docs_load_swagger_ui_from_this_service():
    client = _client()
    html = client.get("/docs").text
    assert "cdn." not in html
    for asset in re.findall(r"""(?:src|href)=["'](/docs-assets/[^"']+)""", html):
        answer = client.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 500, asset
    assert "/docs-assets/swagger-ui-bundle.js" in html
    # FastAPI writes OpenAPI 3.1, which Swagger UI reads from 5.0 on (4.x shows "Unable to render").
    bundle = client.get("/docs-assets/swagger-ui-bundle.js").text
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert int(re.search(r'PACKAGE_VERSION:"(\d+)\.', bundle).group(1)) >= 5
    assert client.get("/openapi.json").json()["paths"]["/v1/jobs"]["get"]["summary"] == "List jobs, newest first"


def test_the_api_description_names_every_way_in():
    """The top of /docs says what is accepted: videos too, not only photos; URLs, S3, batches, webhooks."""
    description = _client().get("/openapi.json").json()["info"]["description"]
    for said in ("photos and videos", "`url`", "`s3_uri`", "`s3_prefix`", "/v1/batches", "callback_url",
                 "/v1/webhooks/endpoints", "Authorization: Bearer"):
        assert said in description, said


def test_redoc_is_not_offered():  # one set of docs: Swagger UI, checked offline in a browser
    assert _client().get("/redoc").status_code == 404
