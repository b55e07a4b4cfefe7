"""priority and dedup

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.String(length=16), server_default='interactive', nullable=False))
        batch_op.add_column(sa.Column('dedup', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('model_key', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('reused_from', sa.String(length=36), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('reused_from')
        batch_op.drop_column('model_key')
        batch_op.drop_column('dedup')
        batch_op.drop_column('priority')

