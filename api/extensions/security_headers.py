"""Security headers on every response, set in one place.

A hand-written `after_request` hook rather than flask-talisman: the API needs four fixed
headers, not Talisman's HTTPS redirects, session-cookie flags or nonce machinery (TLS ends at
the proxy in front of gunicorn), and the policy stays readable here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response


def content_security_policy(swagger_ui_url: str | None) -> str:
    """Same-origin everything; Swagger UI's own CDN for its script and styles (its page starts
    it with an inline script, hence 'unsafe-inline' for scripts and styles only)."""
    cdn = ""
    if swagger_ui_url and urlsplit(swagger_ui_url).scheme in ("http", "https"):
        parts = urlsplit(swagger_ui_url)
        cdn = f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; "
        f"script-src 'self' 'unsafe-inline'{cdn}; "
        f"style-src 'self' 'unsafe-inline'{cdn}; "
        "img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
    )


def init_app(app: Flask) -> None:
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": content_security_policy(app.config.get("OPENAPI_SWAGGER_UI_URL")),
    }

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
