"""zone variants of answers, review dates, farmer districts, per-model tuning

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=20), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=True),
        sa.Column("review_by", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["qa_pairs.id"],
            name=op.f("fk_answer_variants_pair_id_qa_pairs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_variants")),
        sa.UniqueConstraint("pair_id", "zone", name=op.f("uq_answer_variants_pair_id")),
    )
    op.create_index(
        op.f("ix_answer_variants_pair_id"), "answer_variants", ["pair_id"], unique=False
    )
    op.create_table(
        "farmer_profiles",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("district", sa.String(length=40), nullable=False),
        sa.Column("zone", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_farmer_profiles")),
    )
    with op.batch_alter_table("qa_pairs") as batch:
        batch.add_column(sa.Column("review_by", sa.Date(), nullable=True))
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(
            sa.Column("tuning", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("tuning")
    with op.batch_alter_table("qa_pairs") as batch:
        batch.drop_column("review_by")
    op.drop_table("farmer_profiles")
    op.drop_index(op.f("ix_answer_variants_pair_id"), table_name="answer_variants")
    op.drop_table("answer_variants")
