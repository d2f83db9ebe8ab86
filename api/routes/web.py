"""The chat page at `/`: one HTML page; its CSS and JavaScript modules are files under api/static/."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, render_template

bp = Blueprint("web", __name__)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
"""Only the app's own files run or style the page: no inline script or style, nothing from elsewhere."""


@bp.get("/")
def chat_page() -> Response:
    page = render_template("web/index.html", mail_note=_mail_note())
    response = Response(page, mimetype="text/html")
    # Stricter than the app-wide policy (api/extensions/security_headers.py), which /docs needs.
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def _mail_note() -> str:
    """Where the verification email goes, said only on a development install without SMTP."""
    config = current_app.config
    if config["MAIL_SERVER"] or config["ENV_NAME"] != "development":
        return ""
    outbox = Path(config["MAIL_OUTBOX_DIR"])
    return (
        f"No mail server is configured: the email was written to {outbox}/ as an .eml file, "
        "and the worker's log shows the link. Paste the link or its token below."
    )
