from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from api.schemas.common import UtcDateTime

USERNAME = validate.Regexp(
    r"^[A-Za-z0-9_.-]{3,32}$", error="3 to 32 characters: letters, digits, '_', '.' or '-'."
)
PASSWORD = validate.Length(min=8, max=128, error="Between {min} and {max} characters.")
EMAIL = {"validate": validate.Length(max=254)}
TOKEN = {
    "validate": validate.Length(min=1, max=200),
    "metadata": {"pattern": "^[A-Za-z0-9_-]+$", "description": "the token from the email's link"},
}


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    email = ma.fields.String()
    email_verified = ma.fields.Boolean()
    is_admin = ma.fields.Boolean()
    created_at = UtcDateTime()


class UserEnvelope(ma.Schema):
    user = ma.fields.Nested(UserSchema)


class SignupRequest(ma.Schema):
    username = ma.fields.String(required=True, validate=USERNAME)
    email = ma.fields.Email(required=True, **EMAIL)
    password = ma.fields.String(required=True, validate=PASSWORD, load_only=True)


LOGIN_KEYS = ("login", "username", "email")


class LoginRequest(ma.Schema):
    # The first of these keys that is not empty names the account.
    OPENAPI_KEYWORDS = {
        "anyOf": [{"required": [key], "properties": {key: {"minLength": 1}}} for key in LOGIN_KEYS]
    }
    login = ma.fields.String(validate=validate.Length(max=254), metadata={"description": "username or email"})
    username = ma.fields.String(
        validate=validate.Length(max=254), metadata={"description": "accepted instead of `login`"}
    )
    email = ma.fields.String(
        validate=validate.Length(max=254), metadata={"description": "accepted instead of `login`"}
    )
    password = ma.fields.String(required=True, validate=validate.Length(max=128), load_only=True)

    @ma.post_load
    def pick_login(self, data: dict, **_: object) -> dict:
        login = next((data[key] for key in LOGIN_KEYS if data.get(key)), None)
        if not login:
            raise ma.ValidationError("Give `login` (a username or an email).", "login")
        return {"login": login, "password": data["password"]}


class TokenPairSchema(ma.Schema):
    access_token = ma.fields.String()
    refresh_token = ma.fields.String()
    token_type = ma.fields.String(metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(metadata={"description": "access token lifetime, seconds"})
    user = ma.fields.Nested(UserSchema)


class ProfileUpdated(UserEnvelope):
    """After a password change every earlier token is refused; the caller gets a fresh pair."""

    access_token = ma.fields.String(metadata={"description": "only when the password changed"})
    refresh_token = ma.fields.String(metadata={"description": "only when the password changed"})
    token_type = ma.fields.String(metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer()


class LogoutRequest(ma.Schema):
    refresh_token = ma.fields.String(validate=validate.Length(max=4096))


class UpdateMeRequest(ma.Schema):
    email = ma.fields.Email(**EMAIL)
    password = ma.fields.String(validate=PASSWORD, load_only=True)
    current_password = ma.fields.String(required=True, load_only=True)


class TokenRequest(ma.Schema):
    token = ma.fields.String(required=True, **TOKEN)


class EmailRequest(ma.Schema):
    email = ma.fields.Email(required=True, **EMAIL)


class PasswordResetConfirmRequest(ma.Schema):
    token = ma.fields.String(required=True, **TOKEN)
    new_password = ma.fields.String(required=True, validate=PASSWORD, load_only=True)


class NoticeSchema(ma.Schema):
    message = ma.fields.String()
