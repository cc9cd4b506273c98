"""Bearer tokens and security settings, without servers."""

from __future__ import annotations

import pytest
from pyarrow import flight
from pydantic import ValidationError

from ballista_flight.config import ExecutorConfig, SchedulerConfig
from ballista_flight.security import Authenticator, check_token, issue_token, parse_tokens, parse_users

SECRET = b"cluster secret"


def test_tokens_verify_only_with_the_secret_and_before_expiry() -> None:
    token = issue_token(SECRET, "alice", 60)
    assert check_token(SECRET, token) == "alice"
    assert check_token(b"another secret", token) is None
    assert check_token(SECRET, issue_token(SECRET, "alice", -1)) is None
    prefix, payload, signature = token.split(".")
    assert check_token(SECRET, f"{prefix}.{payload}x.{signature}") is None
    for junk in ("", "bf1", "bf1..", "Bearer x", "bf1.!!!.???"):
        assert check_token(SECRET, junk) is None


def test_basic_login_issues_a_token_any_process_accepts() -> None:
    import base64

    auth = Authenticator(secret=SECRET, users={"alice": "pw:with:colons"}, tokens=frozenset({"static"}))
    good = base64.b64encode(b"alice:pw:with:colons").decode().rstrip("=")  # Go sends it unpadded
    token = auth.basic(good)
    assert Authenticator(secret=SECRET).bearer(token) == "alice"
    assert auth.bearer("static") == "static-token"
    for bad in (base64.b64encode(b"alice:nope").decode(), "%%%", base64.b64encode(b"bob:x").decode()):
        with pytest.raises(flight.FlightUnauthenticatedError):
            auth.basic(bad)
    with pytest.raises(flight.FlightUnauthenticatedError):
        auth.bearer("not-a-token")


def test_parse_users_and_tokens() -> None:
    assert parse_users("a:1, b:x:y") == {"a": "1", "b": "x:y"}
    assert parse_tokens(" t1,,t2 ") == frozenset({"t1", "t2"})
    with pytest.raises(ValueError, match="user:password"):
        parse_users("nopassword")


def test_security_settings_must_be_consistent() -> None:
    with pytest.raises(ValidationError, match="cluster-secret"):
        ExecutorConfig(auth_enabled=True)
    with pytest.raises(ValidationError, match="auth-users or --auth-tokens"):
        SchedulerConfig(auth_enabled=True, cluster_secret="s")
    with pytest.raises(ValidationError, match="go together"):
        SchedulerConfig(tls_cert="/x.pem")
    with pytest.raises(ValidationError, match="tls-ca"):
        ExecutorConfig(tls_cert="/x.pem", tls_key="/x.key", tls_client_auth=True)
    assert SchedulerConfig(auth_enabled=True, cluster_secret="s", auth_users="a:b").auth_enabled
