"""Compose and deliver account emails (plain text + HTML) with flask-mail.

With no `MAIL_SERVER` configured (the embedded default) in development and test, a message is
written to `MAIL_OUTBOX_DIR` as an .eml file and its link is logged, so a local install needs no
SMTP server. Anywhere else that would put working account links in the log files, so the email
fails instead (`MailNotConfiguredError`), naming no address and no link.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import current_app, render_template
from flask_mail import Message

from api.config import SAFE_FOR_DEFAULTS
from api.extensions.database import db
from api.extensions.mail import mail
from api.models import User, utcnow
from api.services import email_tokens

log = logging.getLogger(__name__)


class MailNotConfiguredError(RuntimeError):
    """No MAIL_SERVER outside development and test: the email cannot be sent, and is not retried."""


def _user(user_id: int | None) -> User | None:
    # None: the address asked for has no account; the task was queued so the answer took as long.
    return db.session.get(User, user_id) if user_id is not None else None


def send_verification_email(user_id: int | None) -> bool:
    """Email a fresh verification link; False when there is nothing to send."""
    user = _user(user_id)
    if user is None or user.email_verified:
        return False
    token = email_tokens.issue_email_token(user, email_tokens.VERIFY)
    link = f"{current_app.config['PUBLIC_BASE_URL']}/api/v1/auth/verify-email/{token}"
    _deliver(
        user,
        "Confirm your email address",
        "verify",
        link=link,
        token=token,
        hours=current_app.config["VERIFY_TOKEN_HOURS"],
    )
    return True


def send_password_reset_email(user_id: int | None) -> bool:
    user = _user(user_id)
    if user is None:
        return False
    token = email_tokens.issue_email_token(user, email_tokens.RESET)
    link = current_app.config["PASSWORD_RESET_URL"].format(
        base_url=current_app.config["PUBLIC_BASE_URL"], token=token
    )
    _deliver(
        user,
        "Reset your password",
        "reset",
        link=link,
        token=token,
        minutes=current_app.config["RESET_TOKEN_MINUTES"],
    )
    return True


def send_activity_report(admin_id: int, report: dict) -> bool:
    admin = db.session.get(User, admin_id)
    if admin is None or not admin.is_admin:
        return False
    _deliver(admin, f"Ragbot activity, {report['until'][:10]}", "activity_report", report=report)
    return True


def _deliver(user: User, subject: str, template: str, **context: object) -> None:
    context["user"] = user
    message = Message(
        subject=subject,
        recipients=[user.email],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )
    if current_app.config["MAIL_SERVER"]:
        mail.send(message)
        log.info("sent %r to user %s", subject, user.id)
    elif current_app.config["ENV_NAME"] not in SAFE_FOR_DEFAULTS:
        raise MailNotConfiguredError(
            f"MAIL_SERVER is not set (APP_ENV={current_app.config['ENV_NAME']}): {subject!r} for user "
            f"{user.id} was not sent; links are written to the outbox and log only in development and test"
        )
    else:
        path = _write_to_outbox(message)
        link = f"; link: {context['link']}" if context.get("link") else ""
        log.warning("MAIL_SERVER unset: %r for %s written to %s%s", subject, user.email, path, link)


def _write_to_outbox(message: Message) -> Path:
    outbox = Path(current_app.config["MAIL_OUTBOX_DIR"])
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{utcnow():%Y%m%dT%H%M%S%f}-{message.recipients[0]}.eml"
    path.write_bytes(message.as_bytes())
    return path
