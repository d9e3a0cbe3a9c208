"""competitions: models and rounds belong to a competition; per-round score configuration;
scores in long format; pending releases point at their round

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Moves a database of revision 0001 (one competition, Classic) forward without loss:

- ``competitions`` (Classic 8 and Signals 11); Classic's ``numbering_offset`` is 0 when the
  database has rounds (they keep their calendar numbers), NULL otherwise (the first round
  opened will be round 1);
- ``models.competition_id`` and ``rounds.competition_id`` (8 for every existing row); round
  numbers unique per competition instead of globally;
- ``rounds.config``: the round's scoring and payout configuration as JSON, built from the
  columns it replaces (``payout_policy``, ``corr_multiplier``, ``mmc_multiplier``,
  ``payout_clip``, ``payout_threshold``) — exactly the values each round opened with;
- ``scores``: one row per (round, model, metric) instead of a column per metric; every
  value is copied as it was (a NULL score stays NULL);
- ``pending_releases.release_round_id`` (the round's id) replaces ``release_round`` (its
  number, ambiguous once several competitions have rounds).

The ledger is not touched: its entries, postings, balances and idempotency keys stay
byte for byte, so ``crowdalpha ledger check`` reports exactly what it did before.
"""

from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import crowdalpha.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CLASSIC = 8
_METRICS = ("corr", "mmc", "fnc", "bmc")


def _config(policy: str, corr: str, mmc: str, clip: str, threshold: object) -> str:
    """A round's configuration as tournament.round_config.RoundConfig.to_json writes it
    (spelled out here: a migration must not change when the application code does)."""
    return json.dumps(
        {
            "version": 1,
            "metrics": list(_METRICS),
            "policy": policy,
            "multipliers": {"corr": corr, "mmc": mmc},
            "clip": clip,
            "threshold": str(int(Decimal(str(threshold)))),
            "gate_thresholds": {},
            "require_previous": False,
        },
        sort_keys=True,
    )


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"

    competitions = op.create_table(
        "competitions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("numbering_offset", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_competitions")),
        sa.UniqueConstraint("slug", name=op.f("uq_competitions_slug")),
    )
    has_rounds = bind.execute(sa.text("SELECT COUNT(*) FROM rounds")).scalar_one() > 0
    op.bulk_insert(
        competitions,
        [
            {
                "id": _CLASSIC,
                "slug": "classic",
                "name": "Classic",
                "numbering_offset": 0 if has_rounds else None,
            },
            {"id": 11, "slug": "signals", "name": "Signals", "numbering_offset": None},
        ],
    )

    # -- models ---------------------------------------------------------------------------
    with op.batch_alter_table("models") as batch_op:
        batch_op.add_column(sa.Column("competition_id", sa.Integer(), nullable=True))
    op.execute(sa.text(f"UPDATE models SET competition_id = {_CLASSIC}"))
    with op.batch_alter_table("models") as batch_op:
        batch_op.alter_column("competition_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_models_competition_id"), ["competition_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_models_competition_id_competitions"),
            "competitions",
            ["competition_id"],
            ["id"],
        )

    # -- rounds ---------------------------------------------------------------------------
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.add_column(sa.Column("competition_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("config", sa.Text(), nullable=True))
    rows = bind.execute(
        sa.text(
            "SELECT id, payout_policy, corr_multiplier, mmc_multiplier, payout_clip, "
            "payout_threshold FROM rounds"
        )
    ).all()
    if rows:
        bind.execute(
            sa.text(
                "UPDATE rounds SET competition_id = :competition, config = :config WHERE id = :id"
            ),
            [
                {
                    "id": row[0],
                    "competition": _CLASSIC,
                    "config": _config(row[1], row[2], row[3], row[4], row[5]),
                }
                for row in rows
            ],
        )
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.alter_column("competition_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("config", existing_type=sa.Text(), nullable=False)
        batch_op.drop_constraint("uq_rounds_number", type_="unique")
        batch_op.create_unique_constraint(
            "uq_rounds_competition_number", ["competition_id", "number"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rounds_competition_id_competitions"),
            "competitions",
            ["competition_id"],
            ["id"],
        )
        for column in (
            "payout_policy",
            "corr_multiplier",
            "mmc_multiplier",
            "payout_clip",
            "payout_threshold",
        ):
            batch_op.drop_column(column)

    # -- scores: one row per metric ---------------------------------------------------------
    op.rename_table("scores", "scores_0001")
    if postgresql:  # index-backed names are unique per schema there
        op.execute(sa.text("ALTER TABLE scores_0001 RENAME CONSTRAINT pk_scores TO pk_scores_0001"))
    op.create_table(
        "scores",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("scored_at", crowdalpha.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_scores_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_scores_round_id_rounds")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_scores_submission_id_submissions")
        ),
        sa.PrimaryKeyConstraint("round_id", "model_id", "metric", name=op.f("pk_scores")),
    )
    for metric in _METRICS:
        op.execute(
            sa.text(
                "INSERT INTO scores (round_id, model_id, metric, submission_id, value, final, "
                f"scored_at) SELECT round_id, model_id, '{metric}', submission_id, {metric}, "
                "final, scored_at FROM scores_0001"
            )
        )
    op.drop_table("scores_0001")

    # -- pending releases: the round by id ----------------------------------------------------
    with op.batch_alter_table("pending_releases") as batch_op:
        batch_op.add_column(sa.Column("release_round_id", sa.Integer(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE pending_releases SET release_round_id = (SELECT rounds.id FROM rounds "
            "WHERE rounds.number = pending_releases.release_round "
            f"AND rounds.competition_id = {_CLASSIC})"
        )
    )
    with op.batch_alter_table("pending_releases") as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_pending_releases_release_round_id_rounds"),
            "rounds",
            ["release_round_id"],
            ["id"],
        )
        batch_op.drop_column("release_round")


def downgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    others = bind.execute(
        sa.text(
            "SELECT (SELECT COUNT(*) FROM models WHERE competition_id <> :c) + "
            "(SELECT COUNT(*) FROM rounds WHERE competition_id <> :c)"
        ),
        {"c": _CLASSIC},
    ).scalar_one()
    if others:
        raise RuntimeError(
            "revision 0001 knows only Classic: this database has models or rounds of "
            "other competitions, so it cannot go back"
        )

    # -- pending releases ---------------------------------------------------------------------
    with op.batch_alter_table("pending_releases") as batch_op:
        batch_op.add_column(sa.Column("release_round", sa.Integer(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE pending_releases SET release_round = (SELECT rounds.number FROM rounds "
            "WHERE rounds.id = pending_releases.release_round_id)"
        )
    )
    with op.batch_alter_table("pending_releases") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_pending_releases_release_round_id_rounds"), type_="foreignkey"
        )
        batch_op.drop_column("release_round_id")

    # -- scores: back to a column per metric ----------------------------------------------------
    op.rename_table("scores", "scores_0002")
    if postgresql:
        op.execute(sa.text("ALTER TABLE scores_0002 RENAME CONSTRAINT pk_scores TO pk_scores_0002"))
    op.create_table(
        "scores",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        *(sa.Column(metric, sa.Float(), nullable=True) for metric in _METRICS),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("scored_at", crowdalpha.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_scores_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_scores_round_id_rounds")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_scores_submission_id_submissions")
        ),
        sa.PrimaryKeyConstraint("round_id", "model_id", name=op.f("pk_scores")),
    )
    picks = ", ".join(f"MAX(CASE WHEN metric = '{m}' THEN value END) AS {m}" for m in _METRICS)
    op.execute(
        sa.text(
            f"INSERT INTO scores (round_id, model_id, submission_id, {', '.join(_METRICS)}, "
            f"final, scored_at) SELECT round_id, model_id, MIN(submission_id), {picks}, "
            "(MIN(CASE WHEN final THEN 1 ELSE 0 END) = 1), MIN(scored_at) FROM scores_0002 "
            f"WHERE metric IN ({', '.join(repr(m) for m in _METRICS)}) "
            "GROUP BY round_id, model_id"
        )
    )
    op.drop_table("scores_0002")

    # -- rounds -----------------------------------------------------------------------------------
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.add_column(sa.Column("payout_policy", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("corr_multiplier", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("mmc_multiplier", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("payout_clip", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column(
                "payout_threshold",
                crowdalpha.db.types.Amount(precision=78, scale=0),
                nullable=True,
            )
        )
    rows = bind.execute(sa.text("SELECT id, config FROM rounds")).all()
    if rows:
        threshold = sa.bindparam("threshold", type_=crowdalpha.db.types.Amount())
        bind.execute(
            sa.text(
                "UPDATE rounds SET payout_policy = :policy, corr_multiplier = :corr, "
                "mmc_multiplier = :mmc, payout_clip = :clip, payout_threshold = :threshold "
                "WHERE id = :id"
            ).bindparams(threshold),
            [_old_columns(int(row[0]), str(row[1])) for row in rows],
        )
    with op.batch_alter_table("rounds") as batch_op:
        for column in ("payout_policy", "corr_multiplier", "mmc_multiplier", "payout_clip"):
            batch_op.alter_column(column, existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column(
            "payout_threshold",
            existing_type=crowdalpha.db.types.Amount(precision=78, scale=0),
            nullable=False,
        )
        batch_op.drop_constraint(
            batch_op.f("fk_rounds_competition_id_competitions"), type_="foreignkey"
        )
        batch_op.drop_constraint("uq_rounds_competition_number", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_rounds_number"), ["number"])
        batch_op.drop_column("config")
        batch_op.drop_column("competition_id")

    # -- models -----------------------------------------------------------------------------------
    with op.batch_alter_table("models") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_models_competition_id_competitions"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_models_competition_id"))
        batch_op.drop_column("competition_id")

    op.drop_table("competitions")


def _old_columns(round_id: int, config: str) -> dict[str, object]:
    raw = json.loads(config)
    multipliers = raw["multipliers"]
    return {
        "id": round_id,
        "policy": raw["policy"],
        "corr": multipliers.get("corr", "0"),
        "mmc": multipliers.get("mmc", "0"),
        "clip": raw["clip"],
        "threshold": int(raw["threshold"]),
    }
