"""Authentication and TLS for every Flight server and client of a cluster.

Clients authenticate the way Flight SQL drivers do: HTTP Basic on the first
call (usually Handshake) returns ``authorization: Bearer <token>``, which they
send on every later call, to the scheduler and to the executors they fetch
results from. Tokens the scheduler issues are HMAC-signed with the cluster
secret, so executors check them without asking the scheduler; static tokens
from config are accepted as they are. Processes of the cluster call each other
with a token they sign themselves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyarrow import flight

if TYPE_CHECKING:
    from ballista_flight.config import ExecutorConfig, SchedulerConfig

TOKEN_PREFIX = "bf1"
INTERNAL_SUBJECT = "ballista-flight-internal"
INTERNAL_TOKEN_TTL_S = 24 * 3600.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: bytes, subject: str, ttl_s: float) -> str:
    """A bearer token for ``subject``, valid for ``ttl_s`` seconds on every process of the cluster."""
    payload = f"{subject}\n{int((time.time() + ttl_s) * 1000)}".encode()
    signature = hmac.new(secret, b"token\n" + payload, hashlib.sha256).digest()
    return f"{TOKEN_PREFIX}.{_b64(payload)}.{_b64(signature)}"


def check_token(secret: bytes, token: str) -> str | None:
    """The subject of a valid signed token; None if it is not one (forged, expired, malformed)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    try:
        payload, signature = _unb64(parts[1]), _unb64(parts[2])
    except (binascii.Error, ValueError):
        return None
    expected = hmac.new(secret, b"token\n" + payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return None
    subject, _, expires = payload.decode(errors="replace").partition("\n")
    if not expires.isdigit() or int(expires) < time.time() * 1000:
        return None
    return subject


def parse_users(spec: str) -> dict[str, str]:
    """``"alice:pw1,bob:pw2"`` as a dict (passwords may contain ':')."""
    users = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        name, sep, password = item.strip().partition(":")
        if not sep or not name:
            msg = f"auth users must look like user:password[,user:password], got {item.strip()!r}"
            raise ValueError(msg)
        users[name] = password
    return users


def parse_tokens(spec: str) -> frozenset[str]:
    """Comma-separated static bearer tokens."""
    return frozenset(t.strip() for t in spec.split(",") if t.strip())


# -- servers -----------------------------------------------------------------------
@dataclass
class Authenticator:
    """Decides whether a call's ``authorization`` header is good enough."""

    secret: bytes
    users: dict[str, str] = field(default_factory=dict)
    tokens: frozenset[str] = frozenset()
    token_ttl_s: float = 12 * 3600.0

    def bearer(self, token: str) -> str:
        """The subject of a bearer token; raises if the token is not accepted."""
        if any(hmac.compare_digest(token.encode(), t.encode()) for t in self.tokens):
            return "static-token"
        subject = check_token(self.secret, token)
        if subject is None:
            msg = "invalid or expired bearer token"
            raise flight.FlightUnauthenticatedError(msg)
        return subject

    def basic(self, credentials: str) -> str:
        """A fresh bearer token for good Basic credentials; raises otherwise."""
        try:
            # Go's Flight client (ADBC) sends unpadded base64.
            padded = credentials + "=" * (-len(credentials) % 4)
            user, _, password = base64.b64decode(padded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            user, password = "", ""
        expected = self.users.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            msg = "wrong user name or password"
            raise flight.FlightUnauthenticatedError(msg)
        return issue_token(self.secret, user, self.token_ttl_s)


class _IssueToken(flight.ServerMiddleware):  # type: ignore[misc]
    def __init__(self, token: str) -> None:
        self.token = token

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


class AuthMiddlewareFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    """Refuses every call without a valid ``authorization`` header (Basic or Bearer)."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[Any]]) -> _IssueToken | None:
        values = headers.get("authorization") or headers.get("Authorization") or []
        if not values:
            msg = "authentication required: send 'authorization: Bearer <token>' or Basic credentials"
            raise flight.FlightUnauthenticatedError(msg)
        value = values[0].decode() if isinstance(values[0], bytes) else str(values[0])
        scheme, _, credentials = value.strip().partition(" ")
        if scheme.lower() == "bearer":
            self.authenticator.bearer(credentials.strip())
            return None
        if scheme.lower() == "basic" and self.authenticator.users:
            return _IssueToken(self.authenticator.basic(credentials.strip()))
        msg = f"unsupported authorization scheme {scheme!r}: use Bearer (or Basic on the scheduler)"
        raise flight.FlightUnauthenticatedError(msg)


class _HandshakeOnly(flight.ServerAuthHandler):  # type: ignore[misc]
    """Lets Handshake through: the Basic header on it is checked by the middleware.

    Without an auth handler pyarrow answers Handshake UNIMPLEMENTED, and clients
    that log in with Basic (pyarrow's ``authenticate_basic_token``, ADBC) start there.
    """

    def authenticate(self, outgoing: flight.ServerAuthSender, incoming: flight.ServerAuthReader) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return ""


def _read(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror}"
        raise ValueError(msg) from exc


def server_options(config: SchedulerConfig | ExecutorConfig, users: str = "") -> dict[str, Any]:
    """``FlightServerBase`` keyword arguments (TLS, mTLS, auth) for ``config``."""
    options: dict[str, Any] = {}
    if config.tls_cert:
        options["tls_certificates"] = [
            flight.CertKeyPair(cert=_read(config.tls_cert), key=_read(config.tls_key))
        ]
        if config.tls_client_auth:
            options["verify_client"] = True
            options["root_certificates"] = _read(config.tls_ca)
    if config.auth_enabled:
        authenticator = Authenticator(
            secret=config.cluster_secret.encode(),
            users=parse_users(users),
            tokens=parse_tokens(config.auth_tokens),
            token_ttl_s=config.auth_token_ttl_s,
        )
        options["middleware"] = {"auth": AuthMiddlewareFactory(authenticator)}
        options["auth_handler"] = _HandshakeOnly()
    return options


def scheme(config: SchedulerConfig | ExecutorConfig) -> str:
    """``grpc+tls`` when the process serves TLS, else ``grpc``."""
    return "grpc+tls" if config.tls_cert else "grpc"


# -- clients -------------------------------------------------------------------------
class _Bearer(flight.ClientMiddleware):  # type: ignore[misc]
    def __init__(self, value: str) -> None:
        self.value = value

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": self.value}


class _BearerFactory(flight.ClientMiddlewareFactory):  # type: ignore[misc]
    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def start_call(self, info: flight.CallInfo) -> _Bearer | None:
        token = self.credentials.bearer()
        return _Bearer(f"Bearer {token}") if token else None


@dataclass
class Credentials:
    """How one process or client authenticates to the cluster's Flight servers."""

    token: str | None = None
    secret: bytes | None = None  # cluster processes sign their own token
    tls_root_certs: bytes | None = None
    cert_chain: bytes | None = None
    private_key: bytes | None = None
    _signed: tuple[str, float] | None = None

    def bearer(self) -> str | None:
        """The token to send, re-signed well before it expires."""
        if self.secret is None:
            return self.token
        if self._signed is None or self._signed[1] < time.monotonic():
            token = issue_token(self.secret, INTERNAL_SUBJECT, INTERNAL_TOKEN_TTL_S)
            self._signed = (token, time.monotonic() + INTERNAL_TOKEN_TTL_S / 2)
        return self._signed[0]

    def client(self, uri: str) -> flight.FlightClient:
        """A Flight client to ``uri`` that authenticates with these credentials."""
        kwargs: dict[str, Any] = {}
        if self.tls_root_certs:
            kwargs["tls_root_certs"] = self.tls_root_certs
        if self.cert_chain and self.private_key:
            kwargs["cert_chain"] = self.cert_chain
            kwargs["private_key"] = self.private_key
        if self.token or self.secret:
            kwargs["middleware"] = [_BearerFactory(self)]
        return flight.FlightClient(uri, **kwargs)


def internal_credentials(config: SchedulerConfig | ExecutorConfig) -> Credentials:
    """What a cluster process presents to the others (signed token, CA, its own certificate)."""
    return Credentials(
        secret=config.cluster_secret.encode() if config.auth_enabled else None,
        tls_root_certs=_read(config.tls_ca) if config.tls_ca else None,
        cert_chain=_read(config.tls_cert) if config.tls_cert and config.tls_client_auth else None,
        private_key=_read(config.tls_key) if config.tls_cert and config.tls_client_auth else None,
    )
