"""The participant's saved login: the server's URL and an API key in a private TOML file.

The file is ``credentials.toml`` in ``$CROWDALPHA_CONFIG_DIR``, else
``$XDG_CONFIG_HOME/crowdalpha``, else ``~/.config/crowdalpha``. It is written atomically
(a temporary file in the same folder, flushed, then renamed) with mode 0600 in a folder of
mode 0700, and refused when anyone but its owner could read it — like ssh does with keys.
Nothing here prints: problems are typed errors the CLI turns into one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from crowdalpha.errors import CrowdAlphaError

__all__ = [
    "CONFIG_DIR_ENV",
    "FILE_NAME",
    "Credentials",
    "CredentialsFileError",
    "InsecureCredentialsError",
    "NotLoggedInError",
    "config_dir",
    "credentials_path",
    "delete_credentials",
    "load_credentials",
    "save_credentials",
]

CONFIG_DIR_ENV = "CROWDALPHA_CONFIG_DIR"
FILE_NAME = "credentials.toml"
_POSIX = os.name == "posix"


class NotLoggedInError(CrowdAlphaError):
    """No saved credentials (and none in the environment)."""

    code: ClassVar[str] = "not_logged_in"


class InsecureCredentialsError(CrowdAlphaError):
    """The credentials file can be read (or replaced) by someone other than its owner."""

    code: ClassVar[str] = "insecure_credentials"


class CredentialsFileError(CrowdAlphaError):
    """The credentials file exists but cannot be used (unreadable, not TOML, fields missing)."""

    code: ClassVar[str] = "bad_credentials_file"


@dataclass(frozen=True)
class Credentials:
    """Where the server is and the key to use there."""

    url: str
    public_id: str
    secret_key: str

    def __repr__(self) -> str:  # never show the secret by accident
        return f"Credentials(url={self.url!r}, public_id={self.public_id!r}, secret_key='***')"


def config_dir() -> Path:
    """The folder of the credentials file."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "crowdalpha"


def credentials_path() -> Path:
    return config_dir() / FILE_NAME


def _toml_string(value: str) -> str:
    # A JSON string (ASCII, \uXXXX and \n-style escapes) is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def _check_private(path: Path) -> None:
    """Refuse a file others can read or write, or one owned by someone else."""
    if not _POSIX:
        return
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid():
        raise InsecureCredentialsError(
            f"{path} belongs to another user (uid {info.st_uid}); log in again to write "
            "your own, or point CROWDALPHA_CONFIG_DIR at a folder of yours",
            details={"path": str(path), "uid": info.st_uid},
        )
    if mode & 0o077:
        raise InsecureCredentialsError(
            f"{path} can be read by others (mode {mode:04o}), so its secret key may have "
            f"leaked; make it private with `chmod 600 {path}` (and revoke the key if others "
            "may have read it), then try again",
            details={"path": str(path), "mode": f"{mode:04o}"},
        )


def load_credentials(path: Path | None = None) -> Credentials:
    """The saved credentials; :class:`NotLoggedInError` when there are none."""
    path = path or credentials_path()
    if not path.exists():
        raise NotLoggedInError(
            f"not logged in (no {path}); run `crowdalpha login` (or `crowdalpha signup`) first",
            details={"path": str(path)},
        )
    _check_private(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CredentialsFileError(
            f"cannot read {path} ({exc}); run `crowdalpha login` to write it again",
            details={"path": str(path)},
        ) from exc
    values = {k: data.get(k) for k in ("url", "public_id", "secret_key")}
    missing = sorted(k for k, v in values.items() if not isinstance(v, str) or not v)
    if missing:
        raise CredentialsFileError(
            f"{path} lacks {', '.join(missing)}; run `crowdalpha login` to write it again",
            details={"path": str(path), "missing": missing},
        )
    return Credentials(str(values["url"]), str(values["public_id"]), str(values["secret_key"]))


def save_credentials(credentials: Credentials, path: Path | None = None) -> Path:
    """Write the credentials atomically: mode 0600, in a folder of mode 0700."""
    path = path or credentials_path()
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _POSIX:
        os.chmod(folder, 0o700)
    text = (
        "# crowdalpha credentials, written by `crowdalpha login`: keep this file private.\n"
        f"url = {_toml_string(credentials.url)}\n"
        f"public_id = {_toml_string(credentials.public_id)}\n"
        f"secret_key = {_toml_string(credentials.secret_key)}\n"
    )
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if _POSIX:
                os.fchmod(fh.fileno(), 0o600)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if _POSIX:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def delete_credentials(path: Path | None = None) -> bool:
    """Remove the saved credentials; whether there were any."""
    path = path or credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
