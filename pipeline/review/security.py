"""What keeps the review desk to its reviewer: the Host header, an access token, same-site writes.

- **Host**: a page served on 127.0.0.1 answers only requests whose ``Host`` names a loopback
  address or the bound host, so a web page on another site that re-points its own domain at
  127.0.0.1 (DNS rebinding) gets a refusal, not the reviewer's data.
- **Token**: bound to any other address, the desk refuses to start without an access token
  (``--token`` or ``CLAIMSIFT_REVIEW_TOKEN``), and every request must carry it: ``?token=``
  once (it is then dropped from the address, and the browser keeps a session cookie, HttpOnly
  and SameSite=Strict, that proves the token without holding it: browsers send a host's cookies
  to all its ports, so another service on the machine would have read the token itself), the
  session cookie, or ``Authorization: Bearer``. The server log never shows a query's token.
- **Cross-site writes**: label writes are POSTs that must carry the per-browser CSRF token of a
  SameSite=Strict cookie in a form field (``csrf_ok``), and a request that says where it came
  from (``Origin``, ``Sec-Fetch-Site``) must come from this site.
- Every response forbids framing, sniffing and any script, style or image from elsewhere.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

TOKEN_ENV = "CLAIMSIFT_REVIEW_TOKEN"
TOKEN_COOKIE = "claimsift_token"
CSRF_COOKIE = "claimsift_csrf"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host name of a ``Host`` header, without port or IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass(frozen=True)
class AccessPolicy:
    bind_host: str
    token: str | None = None

    @property
    def any_host(self) -> bool:
        """Bound to every address: the Host cannot be known in advance; the token guards it."""
        return self.bind_host in ("0.0.0.0", "::", "")

    def host_allowed(self, header: str) -> bool:
        host = host_of(header)
        return self.any_host or is_loopback(host) or host == self.bind_host.lower().strip("[]")

    def token_ok(self, request: Request) -> bool:
        if not self.token:
            return True
        if self.session_ok(request.cookies.get(TOKEN_COOKIE, "")):
            return True
        offered = [request.query_params.get("token", "")]
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        return any(o and hmac.compare_digest(o.encode(), self.token.encode()) for o in offered)

    def new_session(self) -> str:
        """A session cookie value: a random nonce and its HMAC under the token."""
        assert self.token
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac(nonce)}"

    def session_ok(self, value: str) -> bool:
        nonce, _, mac = value.partition(".")
        return bool(self.token and nonce and mac) and hmac.compare_digest(mac.encode(), self._mac(nonce).encode())

    def _mac(self, nonce: str) -> str:
        return hmac.new(str(self.token).encode(), nonce.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (set as a cookie by the middleware on its first page)."""
    return request.cookies.get(CSRF_COOKIE) or request.state.new_csrf


def csrf_ok(request: Request, submitted: object) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and isinstance(submitted, str) and hmac.compare_digest(cookie.encode(), submitted.encode())


def same_site(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()
    return origin != "null"


# The key as any client may write it: "token", or percent-encoded ("%74oken"), which the desk decodes.
_TOKEN_IN_QUERY = re.compile(r"([?&](?:t|%74)(?:o|%6f)(?:k|%6b)(?:e|%65)(?:n|%6e)=)[^&\s\"]*", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Takes the value of ``token=`` out of uvicorn's access log lines (the full query was logged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


Refuse = Callable[[Request, int, str], Response]


class GuardMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, policy: AccessPolicy, refuse: Refuse) -> None:
        super().__init__(app)
        self.policy = policy
        self.refuse = refuse

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.new_csrf = secrets.token_urlsafe(24)
        if not self.policy.host_allowed(request.headers.get("host", "")):
            response = self.refuse(request, 400, "This address is not served here (the Host header names another "
                                                 "site). Open the review desk at the address it printed when it started.")
        elif not self.policy.token_ok(request):
            response = self.refuse(request, 401, "This review desk needs its access token: open the address it "
                                                 "printed when it started (…?token=…).")
        elif request.method not in SAFE_METHODS and not same_site(request):
            response = self.refuse(request, 403, "Refused: a change sent from another site.")
        elif self.policy.token and request.method == "GET" and "token" in request.query_params:
            # Keep the token in a cookie and out of the address bar, history and Referer.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            # One leading slash: "//evil.example/x?token=…" redirected off the desk.
            path = "/" + request.url.path.lstrip("/\\")
            response = RedirectResponse(path + (f"?{urlencode(rest)}" if rest else ""), status_code=303)
            response.set_cookie(TOKEN_COOKIE, self.policy.new_session(), httponly=True, samesite="strict")
        else:
            response = await call_next(request)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, request.state.new_csrf, httponly=True, samesite="strict")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response
