"""tokens issued before a password change are refused; email links are tied to their address;
global documents keep only their file name in source_name

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 07:00:00

"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address_hash", sa.String(length=64), nullable=True))
    # Global documents were keyed by their absolute path, which source_name showed to every user;
    # storage_path keeps the path (the key now), source_name keeps the file name.
    op.execute(
        "UPDATE documents SET source_name = regexp_replace(source_name, '^.*/', '') "
        "WHERE scope = 'global' AND source_name LIKE '%/%'"
    )


def downgrade():
    op.execute("UPDATE documents SET source_name = storage_path WHERE scope = 'global'")
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.drop_column("address_hash")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("tokens_valid_after")
