from __future__ import annotations

import pytest

from core.netguard import ForbiddenURL, check_url


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
