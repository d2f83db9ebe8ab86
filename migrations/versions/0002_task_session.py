"""chat tasks belong to their session (deleted with it)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 05:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_tasks_session_id'), ['session_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_tasks_session_id_chat_sessions'), 'chat_sessions', ['session_id'], ['id'],
            ondelete='CASCADE',
        )


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tasks_session_id_chat_sessions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_tasks_session_id'))
        batch_op.drop_column('session_id')
