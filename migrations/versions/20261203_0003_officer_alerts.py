"""officers' alerts, dismiss reasons, 👎 feedback, voice and photos in the queue; learned
wordings waiting for approval

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("unanswered") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="question")
        )
        batch.add_column(sa.Column("reason", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("given_pair_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("file_id", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("media_path", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_unanswered_given_pair_id_qa_pairs"),
            "qa_pairs",
            ["given_pair_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("phrasings") as batch:
        batch.add_column(
            sa.Column("approved", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    # what was queued before alerts existed is not news to anyone
    op.execute("UPDATE unanswered SET alerted_at = created_at")
    op.create_table(
        "officers",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("alerts_muted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_officers")),
    )


def downgrade() -> None:
    op.drop_table("officers")
    with op.batch_alter_table("phrasings") as batch:
        batch.drop_column("approved")
    with op.batch_alter_table("unanswered") as batch:
        batch.drop_constraint(op.f("fk_unanswered_given_pair_id_qa_pairs"), type_="foreignkey")
        batch.drop_column("media_path")
        batch.drop_column("file_id")
        batch.drop_column("given_pair_id")
        batch.drop_column("alerted_at")
        batch.drop_column("reason")
        batch.drop_column("kind")
