"""the bank's revision and the pairs each revision touched, for processes that follow them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    revision_table = op.create_table(
        "bank_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_revision")),
    )
    op.bulk_insert(revision_table, [{"id": 1, "revision": 0}])
    op.create_table(
        "bank_changes",
        sa.Column("revision", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("pair_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("revision", "pair_id", name=op.f("pk_bank_changes")),
    )


def downgrade() -> None:
    op.drop_table("bank_changes")
    op.drop_table("bank_revision")
