"""Security headers on every response, set in one place.

A hand-written `after_request` hook rather than flask-talisman: the API needs four fixed
headers, not Talisman's HTTPS redirects, session-cookie flags or nonce machinery (TLS ends at
the proxy in front of gunicorn), and the policy stays readable here.
"""

from __future__ import annotations

from flask import Flask, Response

# Same-origin everything. Swagger UI's page (flask-smorest's template; its files are served by the
# app) starts it with an inline script, hence 'unsafe-inline' for scripts and styles; the chat
# page at `/` sends a stricter policy of its own (api/routes/web.py).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)


def init_app(app: Flask) -> None:
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    }

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
