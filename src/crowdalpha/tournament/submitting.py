"""Submissions: validating an upload against its round and recording it.

A model submits to a round of its own competition, under that competition's rules. A file
that breaks a rule raises the rule's ``SubmissionError`` and nothing is stored. Once the
round has closed, files are accepted as late: scored but not staked and not in the meta
model. A model's newest file in a round is the selected one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Final

import numpy as np
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from crowdalpha import observe
from crowdalpha.errors import ConflictError, InvalidParameterError, NotFoundError, RoundStateError
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.files import RoundFiles
from crowdalpha.tournament.models import Model, Round, RoundState, Submission, SubmissionState
from crowdalpha.tournament.roster import ensure_owner
from crowdalpha.tournament.rounds import slug_of
from crowdalpha.tournament.unit_of_work import UnitOfWork, fingerprint, recorded, scoped_key
from crowdalpha.tournament.views import SubmissionInfo

__all__ = ["Submitting", "submission_info"]

# The statements every upload runs, built once (SQLAlchemy caches their compiled form).
_MODEL: Final = select(Model.account_id, Model.competition_id).where(
    Model.id == bindparam("model_id")
)
_ROUND_TARGET: Final = select(Round.id, Round.number, Round.state, Round.live_ids_key).where(
    Round.competition_id == bindparam("competition")
)
_ROUND_NUMBERED: Final = _ROUND_TARGET.where(Round.number == bindparam("number"))
_ROUND_OPEN: Final = (
    _ROUND_TARGET.where(Round.state == RoundState.OPEN.value).order_by(Round.number.desc()).limit(1)
)
# Recording an upload: the round (locked), unselecting the model's earlier files, the row.
_ROUND_TO_RECORD: Final = (
    select(Round.state, Round.closes_at).where(Round.id == bindparam("round")).with_for_update()
)
_UNSELECT: Final = (
    update(Submission)
    .where(Submission.round_id == bindparam("round"), Submission.model_id == bindparam("model"))
    .values(selected=False)
)
_INSERT_SUBMISSION: Final = insert(Submission).returning(Submission.id)


def submission_info(row: Submission, round_number: int) -> SubmissionInfo:
    return SubmissionInfo(
        id=row.id,
        model_id=row.model_id,
        round_number=round_number,
        created_at=row.created_at,
        filename=row.filename,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        rows=row.rows,
        unknown_ids=row.unknown_ids,
        state=row.state,
        late=row.late,
        selected=row.selected,
        error_code=row.error_code,
        error_message=row.error_message,
    )


class Submitting:
    """Uploads in; a submission's record and its file out."""

    def __init__(
        self,
        uow: UnitOfWork,
        files: RoundFiles,
        competitions: Mapping[int, Competition],
        *,
        max_upload_bytes: int,
    ) -> None:
        self.uow = uow
        self.files = files
        self.competitions = competitions
        self.max_upload_bytes = max_upload_bytes

    def submit(
        self,
        model_id: int,
        data: bytes,
        *,
        filename: str = "predictions.csv",
        round_number: int | None = None,
        key: str | None = None,
        owner: int | None = None,
    ) -> SubmissionInfo:
        """Validate and record a prediction file for the open round of the model's
        competition (or round ``round_number``).

        With ``key``, a retried upload returns the submission the first attempt recorded
        instead of recording it twice. With ``owner`` (an account id), a model of another
        account is refused with ``PermissionDeniedError`` before the file is read.
        """
        now = self.uow.clock.now()
        # Only a retry-safe upload (with a key) needs the digest before validation, which
        # computes it anyway for the record.
        digest = hashlib.sha256(data).hexdigest() if key is not None else ""
        call_digest = fingerprint(model_id, round_number, digest)

        with self.uow.connection() as conn:
            model = conn.execute(_MODEL, {"model_id": model_id}).first()
            if model is None:
                raise NotFoundError(f"there is no model {model_id}", details={"model_id": model_id})
            account_id, competition_id = int(model[0]), int(model[1])
            ensure_owner("model", model_id, account_id, owner)
            c = self._competition(competition_id)
            found = (
                conn.execute(_ROUND_OPEN, {"competition": c.id})
                if round_number is None
                else conn.execute(_ROUND_NUMBERED, {"competition": c.id, "number": round_number})
            ).first()
        if found is None and round_number is None:
            raise RoundStateError(f"no round is open for submissions right now in {c.name}")
        if found is None:
            raise NotFoundError(
                f"there is no {c.name} round {round_number}", details={"round": round_number}
            )
        round_id, number, state, live_key = found
        scoped = scoped_key(key, account_id)
        if scoped is not None:
            earlier = self._recorded(scoped, call_digest)
            if earlier is not None:
                return earlier
        if state == RoundState.RESOLVED.value:
            raise RoundStateError(f"round {number} is resolved; it takes no more submissions")
        assert c.rules is not None  # enabled competitions are runnable
        with observe.timed("upload_validation", competition=c.slug):
            validated = c.rules(
                data,
                self.files.submission_universe(c, number, live_key),
                filename=filename,
                max_bytes=self.max_upload_bytes,
            )
        live = self.files.live_index(live_key)
        predictions = validated.predictions
        if not predictions.index.equals(live):
            predictions = predictions.reindex(live)
        values: np.ndarray = predictions.to_numpy(dtype=np.float64)
        storage_key = RoundFiles.new_submission_key(c, number, model_id)
        suffix = ".parquet" if data[:4] == b"PAR1" else ".csv"
        predictions_sha256 = self.files.put_predictions(storage_key, bytes(data), suffix, values)

        def op(session: Session) -> SubmissionInfo:
            # prebuilt Core statements on the session's connection: this runs per upload
            conn = session.connection()
            row = conn.execute(_ROUND_TO_RECORD, {"round": round_id}).first()
            if row is None:  # pragma: no cover - rounds are never deleted
                raise NotFoundError(f"there is no round {number}", details={"round": number})
            round_state, closes_at = row
            made: list[SubmissionInfo] = []

            def record() -> dict[str, object]:
                if round_state == RoundState.RESOLVED.value:
                    raise RoundStateError(f"round {number} resolved while the file was checked")
                conn.execute(_UNSELECT, {"round": round_id, "model": model_id})
                info = SubmissionInfo(
                    id=0,
                    model_id=model_id,
                    round_number=number,
                    created_at=now,
                    filename=filename[:255],
                    sha256=validated.sha256 or hashlib.sha256(data).hexdigest(),
                    size_bytes=len(data),
                    rows=validated.rows,
                    unknown_ids=validated.unknown_ids,
                    state=SubmissionState.VALIDATED.value,
                    late=round_state != RoundState.OPEN.value or now >= closes_at,
                    selected=True,
                )
                new_id = conn.execute(
                    _INSERT_SUBMISSION,
                    {
                        "model_id": model_id,
                        "round_id": round_id,
                        "created_at": now,
                        "filename": info.filename,
                        "sha256": info.sha256,
                        "storage_key": storage_key,
                        "predictions_sha256": predictions_sha256,
                        "size_bytes": info.size_bytes,
                        "rows": info.rows,
                        "unknown_ids": info.unknown_ids,
                        "state": info.state,
                        "late": info.late,
                        "selected": True,
                    },
                ).scalar_one()
                made.append(dataclasses.replace(info, id=int(new_id)))
                return {"submission": int(new_id)}

            result = self.uow.once(session, scoped, "submit", call_digest, record)
            if made:
                return made[0]
            # the key's first upload, recorded by a concurrent retry
            sub = session.get(Submission, result["submission"])
            if sub is None:  # pragma: no cover - the record and the row commit together
                raise NotFoundError("the submission recorded under this key is gone")
            return submission_info(sub, number)

        try:
            recorded_info = self.uow.run(op)
        except BaseException:
            # a row must never lack its file: delete the file only when no row names it
            # (a connection lost during the commit leaves that unknown — keep the file then)
            if self._surely_unrecorded(storage_key):
                self.files.delete_submission(storage_key, suffix)
            raise
        if scoped is not None:
            stored = self.uow.run(lambda s: s.get(Submission, recorded_info.id))
            if stored is not None and stored.storage_key != storage_key:
                # a concurrent retry under the same key recorded its own copy first
                self.files.delete_submission(storage_key, suffix)
        return recorded_info

    def _surely_unrecorded(self, storage_key: str) -> bool:
        """Whether no submission row names ``storage_key`` (False when that cannot be read)."""
        try:
            found = self.uow.read(
                lambda s: s.scalar(
                    select(Submission.id).where(Submission.storage_key == storage_key)
                )
            )
        except Exception:
            return False
        return found is None

    def _competition(self, competition_id: int) -> Competition:
        c = self.competitions.get(competition_id)
        if c is None:
            raise InvalidParameterError(
                f"the {slug_of(competition_id)} competition is not running on this tournament",
                details={"competition": slug_of(competition_id)},
            )
        return c

    def _recorded(self, key: str, digest: str) -> SubmissionInfo | None:
        def op(session: Session) -> SubmissionInfo | None:
            result = recorded(session, key, "submit", digest)
            if result is None:
                return None
            found = session.execute(
                select(Submission, Round.number)
                .join(Round, Round.id == Submission.round_id)
                .where(Submission.id == result["submission"])
            ).one()
            return submission_info(found[0], found[1])

        return self.uow.read(op)

    def submission(self, submission_id: int, *, owner: int | None = None) -> SubmissionInfo:
        """One submission; with ``owner`` (an account id), refused unless it owns it."""

        def op(session: Session) -> tuple[SubmissionInfo, int]:
            found = session.execute(
                select(Submission, Round.number, Model.account_id)
                .join(Round, Round.id == Submission.round_id)
                .join(Model, Model.id == Submission.model_id)
                .where(Submission.id == submission_id)
            ).first()
            if found is None:
                raise NotFoundError(
                    f"there is no submission {submission_id}",
                    details={"submission_id": submission_id},
                )
            return submission_info(found[0], found[1]), int(found[2])

        info, account_id = self.uow.read(op)
        ensure_owner("submission", submission_id, account_id, owner)
        return info

    def storage_key(self, submission_id: int, *, owner: int | None = None) -> str:
        """Where the file as uploaded is stored; refused to any account but the owner's."""
        self.submission(submission_id, owner=owner)
        sub = self.uow.read(lambda s: s.get(Submission, submission_id))
        if sub is None or sub.storage_key is None:
            raise NotFoundError(f"there is no submission {submission_id}")
        return self.files.raw_submission_key(sub.storage_key)

    def file(self, submission_id: int, *, owner: int | None = None) -> bytes:
        """The file exactly as uploaded, checked against the hash recorded at upload."""
        self.submission(submission_id, owner=owner)
        sub = self.uow.read(lambda s: s.get(Submission, submission_id))
        if sub is None or sub.storage_key is None:
            raise NotFoundError(f"there is no submission {submission_id}")
        try:
            data = self.files.raw_submission(sub.storage_key)
        except NotFoundError:
            raise NotFoundError(
                f"submission {submission_id}'s file is missing from storage"
            ) from None
        if hashlib.sha256(data).hexdigest() != sub.sha256:
            raise ConflictError(
                f"submission {submission_id}'s stored file does not match the hash "
                "recorded at upload: it was altered",
                details={"sha256": sub.sha256},
            )
        return data
