"""Refusals meant for people: each says what was wrong and what to do, with a code the README lists."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests import media
from tests.api_client import make_client

REPO = Path(__file__).resolve().parent.parent


def _error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json()["error"]


def test_a_file_under_another_form_field_is_told_where_it_goes(clean_db):
    with make_client() as client:
        error = _error(client.post("/v1/jobs", files={"image": ("photo.jpg", media.jpeg_bytes(media.astronaut()))}),
                       422)
        missing = _error(client.post("/v1/jobs", data={"priority": "bulk"}, files={"x": (None, "y")}), 422)
    assert error["code"] == "invalid_request" and "'file'" in error["message"] and "'image'" in error["message"]
    assert "-F file=@" in missing["message"]


def test_an_invalid_request_is_a_sentence_not_a_pydantic_dump(clean_db):
    with make_client() as client:
        job = _error(client.post("/v1/jobs", json={"url": "https://example.org/a.jpg", "priority": "urgent"}), 422)
        batch = _error(client.post("/v1/batches", json={"items": "not a list"}), 422)
    for error in (job, batch):
        assert error["code"] == "invalid_request"
        assert not re.search(r"\{'|\[\{|'loc'|'msg'|Value error, ", error["message"]), error["message"]
    assert "priority" in job["message"] and "items" in batch["message"]


def test_a_loopback_receiver_is_refused_naming_the_setting_that_allows_it(clean_db):
    with make_client() as client:
        error = _error(client.post("/v1/jobs", json={"url": "https://example.org/a.jpg",
                                                     "callback_url": "http://127.0.0.1:9/hook"}), 422)
    assert error["code"] == "forbidden_url" and "WEBHOOK_ALLOW_PRIVATE=true" in error["message"]


@pytest.mark.parametrize("receiver", ["ftp://example.org/hook", "file:///etc/hook", "https:///no-host"])
def test_a_receiver_that_is_not_http_is_told_so_without_the_private_address_setting(clean_db, receiver):
    """An upload's callback_url (a form field, checked by the service rather than the schema)."""
    with make_client() as client:
        error = _error(client.post("/v1/jobs", files={"file": ("a.jpg", media.jpeg_bytes(media.no_face()))},
                                   data={"callback_url": receiver}), 422)
    assert error["code"] == "forbidden_url" and "http:// or https://" in error["message"], error["message"]
    assert "ALLOW_PRIVATE" not in error["message"] and receiver in error["message"]


def _no_such_host(monkeypatch, host: str) -> None:
    real = socket.getaddrinfo

    def resolve(name, *args, **kwargs):
        if name == host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr("core.netguard.socket.getaddrinfo", resolve)


def test_a_host_that_does_not_resolve_is_not_called_forbidden(clean_db, monkeypatch, tmp_path):
    from core.settings import Settings
    from pipeline import MediaError
    from workers.media import _fetch_url

    _no_such_host(monkeypatch, "no-such-host.example")
    with make_client() as client:
        error = _error(client.post("/v1/jobs", json={"url": "https://example.org/a.jpg",
                                                     "callback_url": "https://no-such-host.example/hook"}), 422)
    assert error["code"] == "invalid_request" and "does not resolve" in error["message"]
    with pytest.raises(MediaError) as failed:
        _fetch_url("https://no-such-host.example/a.jpg", tmp_path / "m", Settings(allow_private_urls=False))
    assert failed.value.code == "fetch_failed" and "no-such-host.example does not resolve" in failed.value.message


def test_an_s3_prefix_that_cannot_be_listed_fails_with_its_own_code(clean_db, monkeypatch):
    from core import batches
    from core.db import session_scope
    from core.settings import get_settings
    from core.tables import Job
    from workers import batches as ingest

    class Unlistable:
        def get_paginator(self, _name):
            raise RuntimeError("NoSuchBucket: The specified bucket does not exist")

    monkeypatch.setattr(get_settings(), "s3_allowed", "gone-bucket")
    monkeypatch.setattr(ingest, "s3_client", lambda _settings: Unlistable())
    entries = [{"s3_prefix": "s3://gone-bucket/inbox/", "ref": "inbox"}, {"not": "an item"}]
    with session_scope() as session:
        batch_id = batches.create_batch(session, priority="bulk", dedup=True, callback_url=None, manifest_key=None).id
        batches.add_items(session, batch_id, list(ingest.expand(iter(entries), get_settings())), consumed=2)
    with session_scope() as session:
        rows = {job.ref: job for job in session.query(Job).filter(Job.batch_id == batch_id)}
    unlisted = rows["inbox"]
    assert (unlisted.status, unlisted.error_code, unlisted.source_uri) == ("failed", "list_failed",
                                                                          "s3://gone-bucket/inbox/")
    assert "cannot list s3://gone-bucket/inbox/" in unlisted.error_message and "NoSuchBucket" in unlisted.error_message
    assert rows[None].error_code == "invalid_item"


def test_a_manifest_line_cannot_pass_itself_off_as_a_refusal():
    from core.batches import FailedEntry
    from workers.batches import _json_entry

    entry = _json_entry('{"code": "list_failed", "message": "x", "uri": "s3://b/", "ref": "r", "source_kind": "s3"}')
    assert not isinstance(entry, FailedEntry)
    assert isinstance(_json_entry("not json"), FailedEntry) and isinstance(_json_entry("[1, 2]"), FailedEntry)


def _codes_in_the_code() -> set[str]:
    """Every error code an answer or a failed job can carry, read from where they are raised."""
    from api.errors import _HTTP_CODES
    from core import batches, sources
    from pipeline import ErrorCode
    from workers.segments import SEGMENT_FAILED

    text = "\n".join(p.read_text() for folder in ("api", "core", "workers") for p in (REPO / folder).glob("*.py"))
    raised = re.findall(r'ApiError\(\d+, "(\w+)"|_refuse\(send, \d+, "(\w+)"|error_body\("(\w+)"|'
                        r'error_code="(\w+)"', text)
    return ({code for group in raised for code in group if code} | set(_HTTP_CODES.values()) | {"http_error"}
            | {str(code) for code in ErrorCode} | {batches.INVALID_ITEM, batches.LIST_FAILED, sources.FORBIDDEN_SOURCE,
                                                   SEGMENT_FAILED})


def test_the_readme_lists_every_error_code():
    readme = (REPO / "README.md").read_text()
    codes = _codes_in_the_code()
    assert {"forbidden_url", "invalid_item", "unknown_model", "not_open"} <= codes, "the search itself works"
    assert sorted(code for code in codes if f"`{code}`" not in readme) == []


def test_an_unknown_form_field_is_refused_naming_it_and_the_fields_taken(clean_db):
    photo = media.jpeg_bytes(media.astronaut())
    with make_client() as client:
        typo = _error(client.post("/v1/jobs", files={"file": ("a.jpg", photo, "image/jpeg")},
                                  data={"callbackurl": "https://example.org/hook"}), 422)
        both = _error(client.post("/v1/jobs", files={"file": ("a.jpg", photo, "image/jpeg")},
                                  data={"url": "https://example.org/a.jpg"}), 422)
        manifest = _error(client.post("/v1/batches", files={"manifest": ("m.jsonl", b'{"url": "https://e.org/a"}\n')},
                                      data={"prio": "bulk"}), 422)
        listed = client.get("/v1/jobs").json()["items"]
    assert typo["code"] == both["code"] == manifest["code"] == "invalid_request"
    assert "'callbackurl'" in typo["message"]
    assert "callback_url" in typo["message"] and "retain_media" in typo["message"]
    assert "url" in both["message"] and "not both" in both["message"]
    assert "'prio'" in manifest["message"] and "priority" in manifest["message"]
    assert listed == [], "a refused upload leaves no job"


def test_a_private_media_url_is_refused_naming_the_setting_that_allows_it(tmp_path):
    from core.settings import Settings
    from pipeline import MediaError
    from workers.media import _fetch_url

    with pytest.raises(MediaError) as failed:
        _fetch_url("http://127.0.0.1:9/a.jpg", tmp_path / "m", Settings(allow_private_urls=False))
    assert failed.value.code == "forbidden_url"
    assert "DEEPFAKE_ALLOW_PRIVATE_URLS=true" in failed.value.message, failed.value.message


def test_a_body_that_is_neither_a_form_nor_json_is_told_what_to_send(clean_db):
    with make_client() as client:
        answers = [client.post("/v1/jobs"), client.post("/v1/jobs", content=b"photo.jpg",
                                                        headers={"content-type": "text/plain"}),
                   client.post("/v1/jobs", content=b"\xff\xd8\xff", headers={"content-type": "image/jpeg"})]
        batch = _error(client.post("/v1/batches", content=b"x", headers={"content-type": "text/plain"}), 422)
    for answer in answers:
        error = _error(answer, 422)
        assert error["code"] == "invalid_request"
        assert "'file'" in error["message"] and "url or s3_uri" in error["message"]
    assert batch["code"] == "invalid_request" and "'manifest'" in batch["message"]


def test_an_empty_batch_is_refused_but_an_open_one_is_not(clean_db):
    with make_client() as client:
        empty = _error(client.post("/v1/batches", json={"items": []}), 422)
        nothing = _error(client.post("/v1/batches", json={}), 422)
        opened = client.post("/v1/batches", json={"open": True})
    assert empty["code"] == nothing["code"] == "invalid_request" and "at least one item" in empty["message"]
    assert opened.status_code == 202 and opened.headers["location"] == f"/v1/batches/{opened.json()['id']}"
