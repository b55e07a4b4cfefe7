"""(tenant, created_at, id) indexes on jobs and batches: the lists' order, newest first per tenant

``GET /v1/jobs`` and ``GET /v1/batches`` filter on a tenant and order by (created_at, id) descending with a
keyset cursor; without these indexes every page read and sorted all of a tenant's rows. Built in the
migration's transaction, as every index here: on a large jobs table, writes to it wait for the build.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLES = ('jobs', 'batches')


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f'ix_{table}_tenant_created_at_id', table, ['tenant', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_index(f'ix_{table}_tenant_created_at_id', table_name=table)
