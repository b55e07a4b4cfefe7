"""jobs.dispatched_at: batch items are sent to the workers by a dispatcher, at least once

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

UNDISPATCHED = sa.text("dispatched_at IS NULL AND status = 'queued'")


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_jobs_undispatched', ['created_at'], unique=False,
                              postgresql_where=UNDISPATCHED, sqlite_where=UNDISPATCHED)
    # Every unfinished job was sent when it was created: none of them waits for the dispatcher.
    # (Finished jobs are left NULL: the column means nothing for them, and rewriting them all would be slow.)
    op.execute("UPDATE jobs SET dispatched_at = created_at WHERE status IN ('queued', 'running')")


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_undispatched', postgresql_where=UNDISPATCHED, sqlite_where=UNDISPATCHED)
        batch_op.drop_column('dispatched_at')
