"""documents.chunking: the chunker signature a document's chunks were cut with

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 18:00:00

"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # NULL for documents chunked before: their next ingest re-chunks them.
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chunking", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("chunking")
