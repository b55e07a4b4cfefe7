"""API keys, and a tenant on jobs, batches, webhook endpoints and deliveries

Rows made before tenancy belong to the tenant ``default`` (the server default fills them in), which is
also the tenant of keys created without ``--tenant`` and of the admin key ``deepfake serve`` makes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TENANT_TABLES = ('batches', 'jobs', 'webhook_endpoints', 'webhook_deliveries')


def upgrade() -> None:
    op.create_table(
        'api_keys',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
        sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix')),
    )
    for table in TENANT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            # NOT NULL with a server default: existing rows get 'default' in the same statement.
            batch_op.add_column(sa.Column('tenant', sa.String(length=64), server_default='default', nullable=False))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('tenant')
    op.drop_table('api_keys')
