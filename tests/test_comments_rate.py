"""Rate limits that count people, not addresses: an IPv6 /64 is one client,
the table of clients is bounded (least recently seen forgotten first) with
O(1) work a request, a cap per post per hour, and one warning when requests
come through a proxy nobody said to trust. In-process and through a real
waitress server on 127.0.0.1."""

from __future__ import annotations

import http.client
import logging

import pytest
from commentkit import GOOD, SECRET, SITE, Clock, call, make_app, page_text

from lab_comments.endpoint import ConfigError, config_from_env
from lab_comments.limits import RateLimiter, client_key
from lab_comments.loadtest import form_body, running_server, write_manifest

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE}


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("::1", "::/64"),
        ("", ""),
        ("not an address", "not an address"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(address, key):
    assert client_key(address) == key


def comment_number(n: int) -> dict[str, str]:
    return {**GOOD, "body": f"Comment number {n}."}


def test_eight_addresses_of_one_64_get_one_allowance(tmp_path):
    app = make_app(tmp_path, rate_limit=5)
    statuses = [
        call(app, body=comment_number(n), remote=f"2001:db8:1:2::{n + 1:x}").status
        for n in range(8)
    ]
    assert statuses == [303] * 5 + [429] * 3
    # The next /64 is someone else.
    assert call(app, body=comment_number(8), remote="2001:db8:1:3::1").status == 303


def test_an_ipv4_mapped_address_counts_as_the_ipv4_one(tmp_path):
    app = make_app(tmp_path, rate_limit=2)
    assert call(app, body=comment_number(0), remote="198.51.100.4").status == 303
    mapped = "::ffff:198.51.100.4"
    assert call(app, body=comment_number(1), remote=mapped).status == 303
    assert call(app, body=comment_number(2), remote=mapped).status == 429


def test_the_table_stays_bounded_and_forgets_the_least_recently_seen():
    limiter = RateLimiter(limit=2, window=600, max_keys=1000)
    for n in range(10_500):
        limiter.hit(f"client-{n}", now=1.0)
        if n % 10 == 0:
            limiter.hit("regular", now=1.0)  # seen all along: never evicted
        assert len(limiter) <= 1000
    keys = limiter.keys()
    assert len(keys) == 1000
    assert "regular" in keys
    # Those left are the most recently seen, in the order they were seen.
    assert [k for k in keys if k != "regular"] == [
        f"client-{n}" for n in range(10_500 - 999, 10_500)
    ]
    # Each key holds at most `limit` hits, and the regular's are still counted.
    assert all(len(hits) <= 2 for hits in limiter._hits.values())
    assert limiter.hit("regular", now=2.0) is not None
    # An evicted client starts again (the trade for bounded memory).
    assert limiter.hit("client-0", now=2.0) is None


def test_an_idle_client_is_dropped_without_a_scan():
    limiter = RateLimiter(limit=2, window=10, max_keys=1000)
    limiter.hit("a", now=0.0)
    limiter.hit("b", now=5.0)
    limiter.hit("c", now=12.0)  # "a" is past its window: the oldest goes
    assert limiter.keys() == ["b", "c"]
    limiter.hit("c", now=13.0)  # "b" still within its window: kept
    assert limiter.keys() == ["b", "c"]


def test_the_endpoint_tracks_at_most_its_setting_of_clients(tmp_path):
    """10,000 addresses through the endpoint's own limiter and key: the table
    never holds more than LAB_COMMENTS_RATE_CLIENTS."""
    app = make_app(tmp_path, rate_clients=500)
    limiter = app.abuse.limiter
    for n in range(10_000):
        address = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
        assert app.abuse.admit(app.client_of(address), 1.0) is None
        assert len(limiter) <= 500
    answer = call(app, body=GOOD, remote="2001:db8::1")
    assert answer.status == 303 and len(limiter) <= 500


def test_a_post_takes_at_most_its_hourly_comments(tmp_path):
    clock = Clock()
    posts = {"a-post": {}, "b-post": {}}
    app = make_app(tmp_path, posts=posts, clock=clock, post_hourly=3)
    for n in range(3):
        remote = f"198.51.100.{n + 1}"
        assert call(app, body=comment_number(n), remote=remote).status == 303
    # A form refused for a mistake, and a duplicate, take none of the allowance.
    assert call(app, body={**GOOD, "name": ""}, remote="192.0.2.9").status == 400
    answer = call(app, body=comment_number(3), remote="192.0.2.1")
    assert answer.status == 429
    assert answer.headers["retry-after"] == "3600"
    text = page_text(answer)
    assert "Comments on this update are paused for a while" in text
    assert "Back button" in text and "60 minutes" in text
    # Another update is not held up.
    other = {**comment_number(4), "post": "b-post"}
    assert call(app, body=other, remote="192.0.2.2").status == 303
    clock.advance(seconds=3601)
    assert call(app, body=comment_number(5), remote="192.0.2.3").status == 303


def test_rate_settings():
    config = config_from_env({})
    assert (config.post_hourly, config.rate_clients, config.trusted_proxy) == (
        30,
        20000,
        "",
    )
    config = config_from_env(
        {
            "LAB_COMMENTS_POST_HOURLY": "100",
            "LAB_COMMENTS_RATE_CLIENTS": "5000",
            "LAB_COMMENTS_TRUSTED_PROXY": "::1",
        }
    )
    assert (config.post_hourly, config.rate_clients, config.trusted_proxy) == (
        100,
        5000,
        "::1",
    )
    for name, value in (
        ("LAB_COMMENTS_POST_HOURLY", "0"),
        ("LAB_COMMENTS_RATE_CLIENTS", "10"),
        ("LAB_COMMENTS_TRUSTED_PROXY", "proxy.example"),
    ):
        with pytest.raises(ConfigError, match=name):
            config_from_env({name: value})


@pytest.fixture
def endpoint_log(caplog, monkeypatch):
    """caplog with every record of the endpoint's logger (Pelican, run by
    other tests in this process, filters out repeated messages: a warning
    logged on every request would look logged once)."""
    monkeypatch.setattr(logging.getLogger("lab_comments.endpoint"), "filters", [])
    caplog.set_level(logging.WARNING, logger="lab_comments.endpoint")
    return caplog


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "192.0.2.44"},
        {"Forwarded": "for=192.0.2.44"},
        {"X-Real-IP": "192.0.2.44"},
    ],
)
def test_forwarding_headers_without_a_trusted_proxy_warn_once(
    tmp_path, endpoint_log, header
):
    app = make_app(tmp_path)
    for n in range(2):
        assert call(app, body=comment_number(n), headers=header).status == 303
    assert call(app, "GET", path="/health", headers=header).status == 200
    warnings = [r for r in endpoint_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert next(iter(header)) in message and "LAB_COMMENTS_TRUSTED_PROXY" in message


def test_no_warning_when_a_proxy_is_trusted_or_no_header_comes(tmp_path, endpoint_log):
    trusting = make_app(tmp_path / "a", trusted_proxy="127.0.0.1")
    header = {"X-Forwarded-For": "192.0.2.44"}
    assert call(trusting, body=GOOD, headers=header).status == 303
    plain = make_app(tmp_path / "b")
    assert call(plain, body=GOOD).status == 303
    assert [r for r in endpoint_log.records if r.levelno >= logging.WARNING] == []


def served_environ(tmp_path, **extra: str) -> dict[str, str]:
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, SITE, {"a-post": {}, "b-post": {}})
    return {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        **extra,
    }


def post(server, fields, headers=None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(
            "POST", "/comments", form_body(fields), {**FORM_HEADERS, **(headers or {})}
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_behind_a_trusted_proxy_a_64_and_a_post_are_counted(tmp_path):
    """A real server behind a trusted proxy (LAB_COMMENTS_TRUSTED_PROXY): the
    reader's IPv6 address comes in X-Forwarded-For, and its /64 is counted;
    the per-post cap holds across readers."""
    environ = served_environ(
        tmp_path,
        LAB_COMMENTS_TRUSTED_PROXY="127.0.0.1",
        LAB_COMMENTS_RATE_LIMIT="2",
        LAB_COMMENTS_POST_HOURLY="4",
    )
    with running_server(environ, tmp_path / "server.log") as server:

        def forwarded(address):
            return {"X-Forwarded-For": address}

        statuses = [
            post(server, comment_number(n), forwarded(f"2001:db8:7:7::{n + 1}"))
            for n in range(3)
        ]
        assert statuses == [303, 303, 429]
        assert post(server, comment_number(3), forwarded("2001:db8:7:8::1")) == 303
        assert post(server, comment_number(4), forwarded("192.0.2.1")) == 303
        # The post has had its four in the hour, whoever sends the fifth.
        assert post(server, comment_number(5), forwarded("192.0.2.2")) == 429
        other = {**comment_number(6), "post": "b-post"}
        assert post(server, other, forwarded("192.0.2.2")) == 303
    log = (tmp_path / "server.log").read_text()
    assert "LAB_COMMENTS_TRUSTED_PROXY" not in log and "Traceback" not in log


def test_a_real_server_without_a_trusted_proxy_warns_once(tmp_path):
    environ = served_environ(tmp_path)
    with running_server(environ, tmp_path / "server.log") as server:
        for n in range(3):
            headers = {"X-Forwarded-For": f"192.0.2.{n + 1}"}
            assert post(server, comment_number(n), headers) == 303
    log = (tmp_path / "server.log").read_text()
    assert log.count("LAB_COMMENTS_TRUSTED_PROXY") == 1, log
