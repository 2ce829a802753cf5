"""Cache directories the program made itself, verified by content before anything in them is loaded.

Why: the demo model and the exported ONNX model are cached on disk so a second start is fast, and a
cache is a place someone else can write to (a directory planted in the working directory, a cloned repo
that carries one, a stale build). So a cache entry is only ever used when its manifest proves both that
this program wrote it and that no file changed since:

- every entry is a new directory made by `store` (never one that already existed), named
  `<name>-<key digest>-<random>`; its `manifest.json` lists the sha256 of every file written and the
  key the entry was built for, and carries an HMAC of both under a secret kept outside any cache, in
  the user's cache home (`$XDG_CACHE_HOME/commentwarden/cache.key`, 0600). A planted directory cannot
  carry a valid HMAC, and an altered file fails its hash: either is ignored and a fresh entry is built
  beside it.
- nothing is deleted that this program did not write: a failed build removes only its own staging
  directory, and `store` prunes only older entries whose manifest verifies, file by listed file.

The cache root is created when missing; an existing root keeps every file that was already there.

Hashing is the slow part of a cached start (a BERT-base checkpoint and its export are ~440 MB each), so
the digests of big files are remembered in the root's `digests.json` (HMAC'd like a manifest) against the
file's size, mtime, ctime, inode and device: any write to a file changes its ctime, which no user can set
back, so a remembered digest is only reused for bytes that have not changed since they were hashed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.scoring.checkpoint import file_digest
from bot.scoring.protocol import ScoringError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DIGESTS = "digests.json"
_KEY_BYTES = 32
_REMEMBER_BYTES = 1 << 20  # smaller files are hashed every time: cheaper than a memo entry


def user_cache_home() -> Path:
    """Where the HMAC secret lives: the user's cache home, never a directory a setting points at."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "commentwarden"


def lookup(root: Path, name: str, key: str) -> Path | None:
    """The entry for `key` under `root` that this program wrote and nobody changed, or None."""
    if not root.is_dir():
        return None
    memo = _Digests(root)
    try:
        for entry in sorted(root.glob(f"{name}-{_digest(key)}-*")):
            if _verified(entry, memo) == key:
                return entry
        return None
    finally:
        memo.save()


def remembered_digest(root: Path, path: Path) -> str:
    """sha256 of `path`, reusing the digest remembered under `root` while the file is unchanged."""
    memo = _Digests(root)
    try:
        return memo.digest(path)
    finally:
        memo.save()


def store(root: Path, name: str, key: str, build: Callable[[Path, Path], object], *, setting: str) -> Path:
    """Build a new entry for `key` under `root` with `build(staging, final)` and return its final path.

    `build` writes into `staging`, which is renamed to `final` once complete (for files that must record
    where they will live); the files it leaves are hashed into the manifest. `setting` names the key that
    chose `root`, for errors.
    """
    ensure_root(root, setting)
    final = root / f"{name}-{_digest(key)}-{secrets.token_hex(4)}"
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        build(staging, final)
        files = _write_manifest(staging, key)
        os.rename(staging, final)  # `final` is a fresh random name: nothing is ever replaced
    except OSError as exc:  # a full disk, a quota: one line, and only our own staging is removed
        shutil.rmtree(staging, ignore_errors=True)
        raise ScoringError(
            f"{setting}={root}: could not write the model cache ({exc.strerror or exc})"
        ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # our own staging directory, nothing else
        raise
    memo = _Digests(root)
    for relative, digest in files.items():
        memo.remember(final / relative, digest)
    memo.save()
    _prune(root, name, keep=key)
    return final


def ensure_root(root: Path, setting: str) -> None:
    """Create the cache root if missing; one `ScoringError` line naming `setting` when it cannot be."""
    if root.exists() and not root.is_dir():
        raise ScoringError(
            f"{setting}={root} is not a directory: point it at a directory (it is created if missing)"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=".probe-", dir=root)
        os.rmdir(probe)
    except OSError as exc:
        raise ScoringError(
            f"{setting}={root} cannot hold the model cache ({exc.strerror or exc}): point it at a writable directory"
        ) from exc


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _secret() -> bytes:
    """The per-user HMAC secret, created on first use (0600, in a 0700 directory)."""
    home = user_cache_home()
    path = home / "cache.key"
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(_KEY_BYTES))
        secret = path.read_bytes()
    except OSError as exc:
        raise ScoringError(
            f"cannot keep the model cache's key in {path} ({exc.strerror or exc}): set XDG_CACHE_HOME to a "
            "writable directory"
        ) from exc
    if len(secret) != _KEY_BYTES:
        raise ScoringError(f"{path} is not a commentwarden cache key: remove it to make a new one")
    return secret


def _mac(key: str, files: Mapping[str, object]) -> str:
    payload = json.dumps({"key": key, "files": files}, sort_keys=True).encode()
    return hmac.new(_secret(), payload, hashlib.sha256).hexdigest()


def _write_manifest(directory: Path, key: str) -> dict[str, str]:
    files = {
        str(path.relative_to(directory)): file_digest(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }
    manifest = {"key": key, "files": files, "mac": _mac(key, files)}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return files


def _manifest(entry: Path) -> tuple[str, dict[str, str]] | None:
    """The key and file list of an entry whose manifest is authentic, or None."""
    try:
        if entry.is_symlink() or not entry.is_dir():
            return None
        raw = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
        key, files, mac = raw["key"], raw["files"], raw["mac"]
        if not (isinstance(key, str) and isinstance(files, dict) and isinstance(mac, str)):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not hmac.compare_digest(mac, _mac(key, files)):
        return None
    return key, files


def _verified(entry: Path, memo: _Digests) -> str | None:
    """The key of an entry that this program wrote and whose every file still has its hash."""
    manifest = _manifest(entry)
    if manifest is None:
        log.warning("ignoring %s: not made by commentwarden, or changed since", entry)
        return None
    key, files = manifest
    for relative, digest in files.items():
        path = entry / relative
        try:
            if path.is_symlink() or not path.is_file() or memo.digest(path) != digest:
                log.warning("ignoring %s: %s changed since it was written", entry, relative)
                return None
        except OSError:
            return None
    return key


def _prune(root: Path, name: str, *, keep: str) -> None:
    """Remove older entries of `name` this program wrote: only their listed files, then empty folders."""
    for entry in root.glob(f"{name}-*"):
        manifest = _manifest(entry)
        if manifest is None or manifest[0] == keep:
            continue
        for relative in manifest[1]:
            with contextlib.suppress(OSError):
                (entry / relative).unlink()
        with contextlib.suppress(OSError):
            (entry / MANIFEST).unlink()
        for folder in sorted((p for p in entry.rglob("*") if p.is_dir()), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only empty ones: anything else put there stays
        with contextlib.suppress(OSError):
            entry.rmdir()


class _Digests:
    """The remembered digests under one cache root (see the module docstring); never trusted unsigned."""

    def __init__(self, root: Path) -> None:
        self._path = root / DIGESTS
        self._entries: dict[str, dict[str, object]] = {}
        self._dirty = False
        # A memo file this program did not sign is neither used nor overwritten.
        self._writable = not self._path.exists()
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
            if isinstance(raw, dict) and hmac.compare_digest(
                str(raw.get("mac")), _mac("digests", raw["files"])
            ):
                self._entries, self._writable = raw["files"], True
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def digest(self, path: Path) -> str:
        stamp = _stamp(path)
        known = self._entries.get(str(path))
        if known is not None and known.get("stat") == stamp and isinstance(known.get("sha256"), str):
            return str(known["sha256"])
        digest = file_digest(path)
        if stamp[0] >= _REMEMBER_BYTES:
            self.remember(path, digest)
        return digest

    def remember(self, path: Path, digest: str) -> None:
        stamp = _stamp(path)
        if stamp[0] >= _REMEMBER_BYTES:
            self._entries[str(path)] = {"stat": stamp, "sha256": digest}
            self._dirty = True

    def save(self) -> None:
        if not (self._dirty and self._writable):
            return
        entries = {name: entry for name, entry in self._entries.items() if Path(name).exists()}
        payload = {"files": entries, "mac": _mac("digests", entries)}
        with contextlib.suppress(OSError):  # a memo that cannot be written only costs a re-hash
            fd, temporary = tempfile.mkstemp(prefix=f".{DIGESTS}.", dir=self._path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle)
            os.replace(temporary, self._path)  # our own memo (checked above), never another file
        self._dirty = False


def _stamp(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev]
