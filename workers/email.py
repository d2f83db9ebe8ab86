"""`email` queue: account emails, retried with exponential backoff while SMTP is unreachable."""

from __future__ import annotations

import smtplib

from celery import shared_task

from api.services import emails

SMTP_ERRORS = (OSError, smtplib.SMTPException)
RETRY = {
    "autoretry_for": SMTP_ERRORS,
    "retry_backoff": True,  # 1 s, 2 s, 4 s ... with jitter
    "retry_backoff_max": 300,
    "max_retries": 15,  # about an hour of retries before giving up
}


@shared_task(**RETRY)
def send_verification_email(user_id: int) -> bool:
    return emails.send_verification_email(user_id)


@shared_task(**RETRY)
def send_password_reset_email(user_id: int) -> bool:
    return emails.send_password_reset_email(user_id)


@shared_task(**RETRY)
def send_activity_report(admin_id: int, report: dict) -> bool:
    return emails.send_activity_report(admin_id, report)
