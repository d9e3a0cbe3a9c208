"""Every file at rest against the SHA-256 recorded when it was written.

Two records of hashes exist: each submission row (``sha256`` of the file as uploaded,
``predictions_sha256`` of the predictions scored) and each published dataset's manifest
(:meth:`~crowdalpha.tournament.files.RoundFiles.manifest`: its files, live ids and
universe). :func:`check_files` rereads every file they name — a full scan, for the
operator (``crowdalpha check-files``) after a disk fault or before a restore decision;
the paths that use a file check it themselves (resolution, downloads).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from crowdalpha.errors import CorruptFileError, NotFoundError
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.files import RoundFiles
from crowdalpha.tournament.models import Round, Submission
from crowdalpha.tournament.unit_of_work import UnitOfWork

__all__ = ["FileCheckReport", "check_files"]


@dataclass(frozen=True)
class FileCheckReport:
    """What the check read; ``ok`` when ``problems`` is empty."""

    files: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_files(
    uow: UnitOfWork, files: RoundFiles, competitions: Mapping[int, Competition]
) -> FileCheckReport:
    """Each file with a recorded hash, reread: missing or different is a problem."""
    rounds = uow.read(
        lambda s: s.execute(
            select(Round.competition_id, Round.number, Round.dataset_version).order_by(
                Round.competition_id, Round.number
            )
        ).all()
    )
    uploads = uow.read(
        lambda s: s.execute(
            select(
                Submission.id,
                Submission.storage_key,
                Submission.sha256,
                Submission.predictions_sha256,
            )
            .where(Submission.storage_key.is_not(None))
            .order_by(Submission.id)
        ).all()
    )
    problems: list[str] = []
    checked = 0
    for competition_id, number, version in rounds:
        c = competitions.get(int(competition_id))
        if c is None:
            continue
        try:
            recorded = files.manifest(c, str(version))
        except CorruptFileError as exc:
            problems.append(f"{c.name} round {number}: {exc.message}")
            continue
        for key, sha256 in sorted(recorded.items()):
            checked += 1
            problem = _check(files, key, sha256)
            if problem:
                problems.append(f"{c.name} round {number}: {problem}")
    for submission_id, storage_key, raw_sha256, predictions_sha256 in uploads:
        named: list[tuple[str, str]] = []
        try:
            named.append((files.raw_submission_key(str(storage_key)), str(raw_sha256)))
        except NotFoundError:
            problems.append(f"submission {submission_id}: its file as uploaded is missing")
        if predictions_sha256 is not None:
            named.append((f"{storage_key}.npy", str(predictions_sha256)))
        for name, expected in named:
            checked += 1
            problem = _check(files, name, expected)
            if problem:
                problems.append(f"submission {submission_id}: {problem}")
    return FileCheckReport(files=checked, problems=problems)


def _check(files: RoundFiles, key: str, sha256: str) -> str | None:
    try:
        files.verify(key, sha256)
    except NotFoundError:
        return f"{key!r} is missing"
    except CorruptFileError as exc:
        return exc.message
    return None
