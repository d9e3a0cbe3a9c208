"""Where a competition's files live in the file store, and reading them back.

One place knows the key layout: a round's dataset files (``datasets/VERSION/NAME``), its
live ids and universe, the stored predictions of each submission and the meta model, each
under the competition's ``store_prefix`` (empty for Classic, ``signals/`` for Signals).
The server and the web UI never build keys: they ask the core for :class:`DatasetFile`
records, or for a round's meta model.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import uuid

import numpy as np
import pandas as pd

from crowdalpha.errors import CorruptFileError, NotFoundError
from crowdalpha.metamodel import META_MODEL_COLUMN
from crowdalpha.storage import FileStore
from crowdalpha.submissions import LiveIds
from crowdalpha.tournament.competitions import Competition
from crowdalpha.tournament.views import DatasetFile

__all__ = ["RoundFiles"]

#: Rounds whose live ids stay in memory (every upload of a round is checked against them).
_CACHED_ROUNDS = 16


class RoundFiles:
    """The file store, as the rounds of every competition use it."""

    def __init__(self, store: FileStore) -> None:
        self.store = store
        self._live: dict[str, pd.Index] = {}
        self._universes: dict[str, pd.DataFrame | None] = {}
        self._lock = threading.Lock()

    # -- keys -------------------------------------------------------------------------------

    @staticmethod
    def round_key(c: Competition, number: int, name: str) -> str:
        return f"{c.store_prefix}rounds/{number:05d}/{name}"

    @staticmethod
    def dataset_prefix(c: Competition, version: str) -> str:
        return f"{c.store_prefix}datasets/{version}/"

    @staticmethod
    def new_submission_key(c: Competition, number: int, model_id: int) -> str:
        """A fresh key (without suffix) for one upload's raw file and its predictions."""
        return f"{c.store_prefix}submissions/{number:05d}/{model_id}/{uuid.uuid4().hex}"

    # -- publishing ---------------------------------------------------------------------------

    @staticmethod
    def manifest_key(c: Competition, version: str) -> str:
        """The manifest of a published dataset version (beside its folder, not in it)."""
        return f"{c.store_prefix}datasets/{version}.manifest.json"

    def publish(
        self,
        c: Competition,
        number: int,
        version: str,
        files: dict[str, bytes],
        live_ids: list[str],
        universe: pd.DataFrame | None,
    ) -> str:
        """Store a round's dataset files, live ids and universe, then their manifest (the
        SHA-256 of each, :meth:`manifest`); the live ids' key.

        Keys are deterministic, so a retry after a crash rewrites the same files. The
        manifest is written last: a publish that failed part way (a full disk) has none."""
        prefix = self.dataset_prefix(c, version)
        written: dict[str, bytes] = {}
        for name, content in files.items():
            written[prefix + name] = content
        if universe is not None:
            buffer = io.BytesIO()
            universe.to_parquet(buffer)  # a named index (numerai_ticker) is kept
            written[self.round_key(c, number, "universe.parquet")] = buffer.getvalue()
        key = self.round_key(c, number, "live_ids.json")
        written[key] = json.dumps(live_ids).encode()
        for name, content in written.items():
            self.store.put(name, content)
        manifest = {
            "version": version,
            "round": number,
            "sha256": {k: hashlib.sha256(v).hexdigest() for k, v in sorted(written.items())},
        }
        self.store.put(self.manifest_key(c, version), json.dumps(manifest, indent=1).encode())
        return key

    def manifest(self, c: Competition, version: str) -> dict[str, str]:
        """Storage key → SHA-256 of every file the dataset ``version`` published, as
        written; empty for a version published before manifests were kept. A damaged
        manifest raises :class:`~crowdalpha.errors.CorruptFileError`."""
        key = self.manifest_key(c, version)
        if not self.store.exists(key):
            return {}
        try:
            hashes: dict[str, str] = json.loads(self.store.get(key))["sha256"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptFileError(
                f"the dataset manifest {key!r} cannot be read ({exc}): restore it from a backup",
                details={"key": key},
            ) from None
        return hashes

    def verify(self, key: str, expected: str) -> None:
        """Raise :class:`~crowdalpha.errors.CorruptFileError` unless the file under ``key``
        has the SHA-256 ``expected`` (NotFoundError if it is gone)."""
        found = self.store.sha256(key)
        if found != expected:
            raise CorruptFileError(
                f"the stored file {key!r} does not match the SHA-256 recorded when it was "
                "written (truncated or damaged at rest): restore it from a backup",
                details={"key": key, "expected": expected, "found": found},
            )

    def dataset_files(self, c: Competition, version: str) -> list[DatasetFile]:
        prefix = self.dataset_prefix(c, version)
        recorded = self.manifest(c, version)
        return [
            DatasetFile(
                name=key[len(prefix) :],
                key=key,
                size_bytes=self.store.size(key),
                sha256=recorded.get(key),
            )
            for key in self.store.keys(prefix)
        ]

    # -- live ids ---------------------------------------------------------------------------

    def live_ids(self, key: str) -> list[str]:
        ids: list[str] = json.loads(self.store.get(key))
        return ids

    def live_index(self, key: str) -> pd.Index:
        """A round's live ids as an Index, kept in memory: they never change once the round
        is open, and every upload of the round is validated against them."""
        cached = self._live.get(key)
        if cached is None:
            cached = pd.Index(self.live_ids(key), name="id").astype(str)
            with self._lock:
                self._live[key] = cached
                while len(self._live) > _CACHED_ROUNDS:
                    self._live.pop(next(iter(self._live)))
        return cached

    def universe(self, c: Competition, number: int) -> pd.DataFrame | None:
        """The round's universe frame, if its source published one (kept in memory)."""
        key = self.round_key(c, number, "universe.parquet")
        if key in self._universes:
            return self._universes[key]
        found = pd.read_parquet(io.BytesIO(self.store.get(key))) if self.store.exists(key) else None
        with self._lock:
            self._universes[key] = found
            while len(self._universes) > _CACHED_ROUNDS:
                self._universes.pop(next(iter(self._universes)))
        return found

    def submission_universe(self, c: Competition, number: int, live_key: str) -> LiveIds:
        """What the submission rules check an upload against: the round's universe frame
        when it has one, else its live ids."""
        universe = self.universe(c, number)
        return universe if universe is not None else self.live_index(live_key)

    # -- predictions ------------------------------------------------------------------------

    def put_predictions(self, key: str, raw: bytes, suffix: str, values: np.ndarray) -> str:
        """Keep an upload as received and its predictions as float64 over the live ids;
        the SHA-256 of the stored predictions (recorded with the submission, checked by
        :meth:`predictions`). Both files or neither: a full or read-only store fails the
        second write and the first is removed, so no file outlives an upload that
        recorded no row."""
        buffer = io.BytesIO()
        np.save(buffer, values.astype(np.float64), allow_pickle=False)
        stored = buffer.getvalue()
        self.store.put(key + suffix, raw)
        try:
            self.store.put(key + ".npy", stored)
        except BaseException:
            self.store.delete(key + suffix)
            raise
        return hashlib.sha256(stored).hexdigest()

    def delete_submission(self, key: str, suffix: str) -> None:
        self.store.delete(key + suffix)
        self.store.delete(key + ".npy")

    def predictions(self, key: str, sha256: str | None = None) -> np.ndarray:
        """The stored predictions of the upload under ``key``; NotFoundError if gone.

        With ``sha256`` (recorded at upload), a file that does not match it — truncated,
        damaged, replaced — raises :class:`~crowdalpha.errors.CorruptFileError` and is
        never used."""
        name = key + ".npy"
        path = self.store.local_path(name)
        if path is None:
            data = self.store.get(name)
        else:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise NotFoundError(f"no stored file {name!r}", details={"key": name}) from None
        if sha256 is not None:
            found = hashlib.sha256(data).hexdigest()
            if found != sha256:
                raise CorruptFileError(
                    f"the stored file {name!r} does not match the SHA-256 recorded when it "
                    "was written (truncated or damaged at rest): restore it from a backup",
                    details={"key": name, "expected": sha256, "found": found},
                )
        array: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
        return array

    def raw_submission(self, key: str) -> bytes:
        """The file exactly as uploaded (CSV or Parquet)."""
        return self.store.get(self.raw_submission_key(key))

    def raw_submission_key(self, key: str) -> str:
        """The storage key of the file exactly as uploaded (CSV or Parquet)."""
        for suffix in (".csv", ".parquet"):
            if self.store.exists(key + suffix):
                return key + suffix
        raise NotFoundError("the submission's file is missing from storage")

    # -- meta models ------------------------------------------------------------------------

    def put_meta_model(self, c: Competition, number: int, meta: pd.Series) -> str:
        key = self.round_key(c, number, "meta_model.parquet")
        buffer = io.BytesIO()
        meta.to_frame(META_MODEL_COLUMN).to_parquet(buffer)
        self.store.put(key, buffer.getvalue())
        return key

    def meta_model(self, key: str) -> pd.Series:
        frame = pd.read_parquet(io.BytesIO(self.store.get(key)))
        series: pd.Series = frame[META_MODEL_COLUMN]
        return series
