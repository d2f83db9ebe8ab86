"""Sign-up, login, token refresh and logout, profile, email verification, password reset."""

from __future__ import annotations

from flask import Response, render_template, request
from flask_jwt_extended import current_user, get_jwt, jwt_required

from api.errors import ApiError
from api.extensions.limiter import account_key, configured_limit, limiter
from api.routes.base import PUBLIC, Blueprint
from api.schemas.auth import (
    EmailRequest,
    LoginRequest,
    LogoutRequest,
    NoticeSchema,
    PasswordResetConfirmRequest,
    ProfileUpdated,
    SignupRequest,
    TokenPairSchema,
    TokenRequest,
    UpdateMeRequest,
    UserEnvelope,
)
from api.services import auth_tokens, users

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens")

login_limit = limiter.limit(configured_limit("RATELIMIT_LOGIN"))
login_account_limit = limiter.limit(configured_limit("RATELIMIT_LOGIN_ACCOUNT"), key_func=account_key)
signup_limit = limiter.limit(configured_limit("RATELIMIT_SIGNUP"))
email_limit = limiter.limit(configured_limit("RATELIMIT_EMAIL"))


@blp.route("/signup", methods=["POST"])
@signup_limit
@blp.doc(**PUBLIC)
@blp.arguments(SignupRequest)
@blp.response(201, UserEnvelope)
@blp.alt_response(409, description="username_taken / email_taken")
@blp.alt_response(429, description="rate_limited")
def signup(body: dict) -> dict:
    """Create an account; a verification email is queued."""
    return {"user": users.create_user(**body)}


@blp.route("/login", methods=["POST"])
@login_limit
@login_account_limit
@blp.doc(**PUBLIC)
@blp.arguments(LoginRequest)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="invalid_credentials")
@blp.alt_response(403, description="email_not_verified")
@blp.alt_response(429, description="rate_limited")
def login(body: dict) -> dict:
    """Log in with a username or an email."""
    return auth_tokens.issue_token_pair(users.authenticate(body["login"], body["password"]))


@blp.route("/refresh", methods=["POST"])
@blp.doc(description="Send the *refresh* token as the bearer token.")
@jwt_required(refresh=True)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="token_revoked on reuse")
def refresh() -> dict:
    """Exchange a refresh token for a new pair; the old refresh token is revoked."""
    return auth_tokens.rotate_refresh_token(current_user, get_jwt())


@blp.route("/logout", methods=["POST"])
@jwt_required()
@blp.arguments(LogoutRequest, required=False)
@blp.response(204)
def logout(body: dict) -> None:
    """Revoke this login's access and refresh tokens."""
    auth_tokens.logout(current_user, get_jwt(), body.get("refresh_token"))


@blp.route("/me", methods=["GET"])
@jwt_required()
@blp.response(200, UserEnvelope)
def get_me() -> dict:
    """The logged-in user."""
    return {"user": current_user}


@blp.route("/me", methods=["PATCH"])
@jwt_required()
@blp.arguments(UpdateMeRequest)
@blp.response(200, ProfileUpdated)
@blp.alt_response(409, description="email_taken")
def update_me(body: dict) -> dict:
    """Change email and/or password; needs the current password.

    A new password ends every token issued before it (other devices, stolen ones); this
    login goes on with the fresh pair in the answer.
    """
    user = users.update_profile(current_user, **body)
    if body.get("password") is None:
        return {"user": user}
    return auth_tokens.issue_token_pair(user, family=get_jwt().get("fam"))


@blp.route("/verify-email", methods=["POST"])
@blp.doc(**PUBLIC)
@blp.arguments(TokenRequest)
@blp.response(200, UserEnvelope)
@blp.alt_response(400, description="invalid_token / token_expired")
def verify_email(body: dict) -> dict:
    """Confirm an email address with the token from the email."""
    return {"user": users.verify_email(body["token"])}


@blp.route("/verify-email/<token>", methods=["GET"])
@blp.doc(**PUBLIC)
@blp.response(200, UserEnvelope)
@blp.alt_response(400, description="invalid_token / token_expired")
def verify_email_link(token: str):
    """The link in the email: JSON, or a small HTML page when the client prefers HTML."""
    if not _prefers_html():
        return {"user": users.verify_email(token)}
    try:
        user = users.verify_email(token)
    except ApiError as error:
        return _html_page("Link not valid", error.message, error.status)
    return _html_page(
        "Email confirmed", f"Thanks, {user.username}: your address is confirmed. You can log in now."
    )


@blp.route("/resend-verification", methods=["POST"])
@email_limit
@blp.doc(**PUBLIC)
@blp.arguments(EmailRequest)
@blp.response(202, NoticeSchema)
@blp.alt_response(429, description="rate_limited")
def resend_verification(body: dict) -> dict:
    """Send the verification link again (202 whether or not the address exists)."""
    users.request_verification_email(body["email"])
    return {"message": "If that address has an unverified account, a new link is on its way."}


@blp.route("/password-reset", methods=["POST"])
@email_limit
@blp.doc(**PUBLIC)
@blp.arguments(EmailRequest)
@blp.response(202, NoticeSchema)
@blp.alt_response(429, description="rate_limited")
def password_reset(body: dict) -> dict:
    """Email a password-reset link (202 whether or not the address exists)."""
    users.request_password_reset(body["email"])
    return {"message": "If that address has an account, a reset link is on its way."}


@blp.route("/password-reset/confirm", methods=["POST"])
@blp.doc(**PUBLIC)
@blp.arguments(PasswordResetConfirmRequest)
@blp.response(200, NoticeSchema)
@blp.alt_response(400, description="invalid_token / token_expired")
def password_reset_confirm(body: dict) -> dict:
    """Set a new password with the token from the reset email."""
    users.reset_password(body["token"], body["new_password"])
    return {"message": "Your password has been changed; log in with the new one."}


def _html_page(title: str, message: str, status: int = 200) -> Response:
    # A Response object passes through flask-smorest's schema serialisation untouched.
    page = render_template("verify_result.html", title=title, message=message)
    return Response(page, status=status, mimetype="text/html")


def _prefers_html() -> bool:
    accepted = request.accept_mimetypes
    return accepted.best_match(["application/json", "text/html"]) == "text/html"
