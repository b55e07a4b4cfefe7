from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from core.netguard import ForbiddenURL, check_url
from core.settings import Settings
from pipeline import MediaError
from workers.media import _fetch_url


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://localhost/x", "http://[::1]/x", "http://10.0.0.1/x", "http://192.168.1.1/x",
    "http://172.16.0.1/x", "http://169.254.169.254/latest/meta-data", "http://[::ffff:127.0.0.1]/x",
    "http://2130706433/x", "http://0x7f000001/x", "http://0177.0.0.1/x", "http://127.1/x", "http://0.0.0.0/x",
    "http://[fd00::1]/x", "http://[fe80::1]/x", "http://224.0.0.1/x", "ftp://example.org/x", "file:///etc/passwd",
])
def test_private_and_odd_addresses_are_refused(url):
    with pytest.raises(ForbiddenURL):
        check_url(url, allow_private=False)


def test_loopback_allowed_only_by_setting():
    assert check_url("http://127.0.0.1:8080/x", allow_private=True) == ["127.0.0.1"]


# -- media URL fetches: pinned to the checked address, every redirect hop checked -------------------

class _Site:
    """A loopback HTTP server answering from ``routes`` (path → (status, headers, body)); records paths."""

    def __init__(self, routes: dict[str, tuple[int, dict, bytes]]):
        site = self
        self.paths: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                site.paths.append(self.path)
                status, headers, body = routes.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in {**headers, "content-length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _resolver(answers: dict[str, list[str]], calls: list[str]):
    """getaddrinfo for made-up names: each call for a name takes its next answer (the last one repeats)."""
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls.append(host)
        address = answers[host][min(calls.count(host), len(answers[host])) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolve


def test_a_rebinding_name_is_never_fetched_from_loopback(monkeypatch, tmp_path):
    """Public on the first lookup, 127.0.0.1 on every later one: the fetch goes to the public address
    (unreachable here) and the loopback server never hears of it, whoever resolves the name again."""
    site = _Site({"/a.jpg": (200, {}, b"internal secret")})
    calls: list[str] = []
    resolve = _resolver({"rebind.test": ["93.184.216.34", "127.0.0.1"]}, calls)
    monkeypatch.setattr(socket, "getaddrinfo", resolve)  # any second look-up, by anyone, gets loopback
    settings = Settings(allow_private_urls=False, url_fetch_timeout_s=2)
    try:
        with pytest.raises(MediaError) as failed:
            _fetch_url(f"http://rebind.test:{site.port}/a.jpg", tmp_path / "media", settings, resolve)
    finally:
        site.close()
    assert site.paths == [] and calls == ["rebind.test"]
    assert failed.value.code == "fetch_failed" and "secret" not in failed.value.message


def test_a_private_answer_is_refused_telling_nothing_but_the_setting(tmp_path):
    resolve = _resolver({"intranet.test": ["10.1.2.3"]}, [])
    with pytest.raises(MediaError) as failed:
        _fetch_url("http://intranet.test/a.jpg", tmp_path / "m", Settings(allow_private_urls=False), resolve)
    assert failed.value.code == "forbidden_url"
    assert failed.value.message.startswith("http://intranet.test/a.jpg: refused: ")
    assert "DEEPFAKE_ALLOW_PRIVATE_URLS=true" in failed.value.message and "10.1.2.3" not in failed.value.message


def test_each_redirect_hop_is_checked_and_resolved_once(tmp_path):
    target = _Site({"/b": (200, {}, b"the media")})
    start = _Site({"/a": (302, {"location": f"http://second.test:{target.port}/b"}, b"")})
    calls: list[str] = []
    resolve = _resolver({"first.test": ["127.0.0.1"], "second.test": ["127.0.0.1"]}, calls)
    try:
        _fetch_url(f"http://first.test:{start.port}/a", tmp_path / "m", Settings(allow_private_urls=True), resolve)
    finally:
        start.close()
        target.close()
    assert (tmp_path / "m").read_bytes() == b"the media"
    assert calls == ["first.test", "second.test"] and (start.paths, target.paths) == (["/a"], ["/b"])


def test_redirects_are_capped(tmp_path):
    site = _Site({"/loop": (302, {"location": "/loop"}, b"")})
    try:
        with pytest.raises(MediaError) as failed:
            _fetch_url(f"http://127.0.0.1:{site.port}/loop", tmp_path / "m",
                       Settings(allow_private_urls=True, url_max_redirects=3))
    finally:
        site.close()
    assert failed.value.code == "fetch_failed" and len(site.paths) == 4


class _Dripping(http.server.BaseHTTPRequestHandler):
    """200 announcing a large body, then one byte every 0.1 s: slow enough to hold a reader, never idle."""

    def _drip(self):
        if self.command == "POST":
            self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "1000000")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the client hung up, as it should

    do_GET = do_POST = _drip

    def log_message(self, *args):
        pass


@pytest.fixture
def dripping_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_media_download_has_a_total_deadline(dripping_server, tmp_path):
    settings = Settings(allow_private_urls=True, url_fetch_timeout_s=5, url_fetch_max_s=0.5)
    started = time.monotonic()
    with pytest.raises(MediaError) as failed:
        _fetch_url(f"{dripping_server}/a.jpg", tmp_path / "m", settings)
    assert failed.value.code == "fetch_failed" and time.monotonic() - started < 3


def test_a_webhook_receivers_body_is_never_read(dripping_server):
    from workers.webhooks import send

    settings = Settings(webhook_allow_private=True, webhook_timeout_s=5)
    started = time.monotonic()
    outcome = send(f"{dripping_server}/hook", "msg_1", "{}", ["whsec_" + "A" * 44], settings)
    assert outcome.status_code == 200 and time.monotonic() - started < 3
