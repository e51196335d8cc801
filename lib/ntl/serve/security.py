"""The API token: checked on every request before anything else runs, never logged.

With a token configured, a request is let in when it carries ``Authorization: Bearer <token>``
(other systems) or the session cookie the login page sets (browsers). The cookie holds an HMAC
of the token, not the token; it is HttpOnly and SameSite=Strict. Everything else gets 401: JSON
for the API, the login form for pages. Static files (the style sheet) and the login page itself
are open. Tokens are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

SESSION_COOKIE = "ntl_session"
OPEN_PATHS = ("/login",)
OPEN_PREFIXES = ("/static/",)
API_PREFIXES = ("/api/", "/openapi.json")
UNAUTHORISED = "missing or wrong API token (send the header 'Authorization: Bearer <token>')"


def session_value(token: str) -> str:
    """The cookie value that stands for `token` (an HMAC, so the cookie never holds the token)."""
    return hmac.new(token.encode(), b"ntl-serve-session", hashlib.sha256).hexdigest()


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def is_authorised(scope: Scope, token: str) -> bool:
    """True when the request carries the bearer token or a valid session cookie."""
    authorization = _header(scope, b"authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        return token_matches(authorization[7:].strip(), token)
    cookie_header = _header(scope, b"cookie")
    if cookie_header:
        cookies = SimpleCookie()
        try:
            cookies.load(cookie_header)
        except Exception:  # a malformed cookie header is simply not a session
            return False
        morsel = cookies.get(SESSION_COOKIE)
        if morsel is not None:
            return token_matches(morsel.value, session_value(token))
    return False


def safe_next(path: str | None) -> str:
    """Where to go after logging in: a path on this site only (no //host, no scheme)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


class TokenMiddleware:
    """ASGI middleware that refuses unauthorised requests before routing, body or logging."""

    def __init__(self, app: ASGIApp, token: str | None, login_page) -> None:
        self.app = app
        self.token = token
        self.login_page = login_page  # (next_path) -> HTML of the login form

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or is_authorised(scope, self.token):
            await self.app(scope, receive, send)
            return
        if path.startswith(API_PREFIXES):
            body = json.dumps({"detail": UNAUTHORISED}).encode()
            headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
        else:
            body = self.login_page(path).encode()
            headers = [(b"content-type", b"text/html; charset=utf-8")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})
