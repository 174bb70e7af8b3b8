"""Files written whole or not at all, and file hashes: the one home of both for the whole package.

Every output of ltr_cos is written under a hidden temporary name next to its destination, flushed to
disk (fsync), then renamed into place, so an interrupted run never leaves a half-written file or folder
that looks complete. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from ltr_cos.errors import InputError

_BLOCK = 1 << 20


def sha256_file(path: str | os.PathLike, block: int = _BLOCK) -> str:
    """Hex sha256 of a file's bytes, read in blocks (bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def temporary_sibling(path: str | os.PathLike, tag: str = "tmp") -> Path:
    """A hidden, unique name in the same folder as ``path`` (same file system, so rename is atomic)."""
    path = Path(path)
    return path.parent / f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _fsync_dir(folder: Path) -> None:
    # make the rename itself durable; not every platform can open a folder
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _ensure_parent(path: Path) -> None:
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise InputError("cannot write here: a parent of the output path is a file, not a folder", str(parent))
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError("cannot write here: a parent of the output path is a file, not a folder",
                         str(parent)) from None
    except PermissionError:
        raise InputError("cannot create the output folder (permission denied)", str(parent)) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError("the output folder is not writable (permission denied)", str(parent))


@contextlib.contextmanager
def _renamed_into_place(path: str | os.PathLike, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success fsync it and rename it to ``path``."""
    path = Path(path)
    if path.is_dir():
        raise InputError("the output path is a folder, expected a file name", str(path))
    if not overwrite and path.exists():
        raise InputError("output file exists; pass --overwrite to replace it", str(path))
    _ensure_parent(path)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                overwrite: bool = True, newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success fsync and rename it into place.

    On any error (an exception, Ctrl-C) the temporary file is removed and ``path`` is left as it was.

    Args:
        path: the destination file.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: text encoding (ignored in binary mode).
        overwrite: replace an existing file; when False an existing ``path`` is refused up front.
        newline: as ``open``'s (text mode; ``""`` for the csv module).
    """
    text = {} if "b" in mode else {"encoding": encoding, "newline": newline}
    with _renamed_into_place(path, overwrite) as tmp, open(tmp, mode, **text) as handle:
        yield handle


def atomic_write_text(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (see ``atomic_file``)."""
    with atomic_file(path, "w", overwrite=overwrite) as handle:
        handle.write(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see ``atomic_file``)."""
    with atomic_file(path, "wb", overwrite=overwrite) as handle:
        handle.write(data)
    return Path(path)


def atomic_save(path: str | os.PathLike, write: Callable[[Path], Any], overwrite: bool = True) -> Path:
    """Let ``write(tmp_path)`` produce a file (e.g. ``torch.save``, ``fig.savefig``), then rename it into place."""
    with _renamed_into_place(path, overwrite) as tmp:
        write(tmp)
    return Path(path)


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError), open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(root))


@contextlib.contextmanager
def atomic_folder(out_dir: str | os.PathLike, overwrite: bool = False,
                  marker: str | tuple[str, ...] | None = None) -> Iterator[Path]:
    """Build a folder under a temporary sibling name; on success rename it to ``out_dir``.

    Args:
        out_dir: the destination folder.
        overwrite: replace an existing ``out_dir``. An empty folder is always replaced.
        marker: file name(s) that mark a folder ltr_cos wrote (e.g. ``_SUCCESS``, ``artifact.json``). With
            ``overwrite``, an existing ``out_dir`` holding none of them is refused: ``--overwrite`` only
            ever replaces what ltr_cos wrote, never a user's other files.

    Yields:
        The temporary folder to fill. On an error it is removed and ``out_dir`` is left untouched.
    """
    out_dir = Path(out_dir)
    check_replaceable(out_dir, overwrite, marker)
    _ensure_parent(out_dir)
    tmp = temporary_sibling(out_dir)
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)
        _publish(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_replaceable(out_dir: Path, overwrite: bool, marker: str | tuple[str, ...] | None) -> None:
    """Refuse an existing, non-empty ``out_dir`` unless ``overwrite`` and it carries one of ``marker``."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise InputError("the output path exists and is a file, not a folder", str(out_dir))
    if not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise InputError("output folder exists and is not empty; pass --overwrite to replace it", str(out_dir))
    markers = (marker,) if isinstance(marker, str) else tuple(marker or ())
    if markers and not any((out_dir / name).exists() for name in markers):
        raise InputError(f"--overwrite replaces only folders that ltr_cos wrote (with {' or '.join(markers)}); "
                         "this one holds other files: choose another output folder", str(out_dir))


def _publish(tmp: Path, out_dir: Path) -> None:
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if out_dir.exists():
        old = temporary_sibling(out_dir, "old")
        os.replace(out_dir, old)
        try:
            os.replace(tmp, out_dir)
        except BaseException:
            os.replace(old, out_dir)  # put the old folder back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)
    _fsync_dir(out_dir.parent)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, name: str) -> None:
    """Remove hidden temporaries of ``name`` left in ``folder`` by a killed run (``.NAME.tmp-PID-*``/``.old-*``).

    A temporary whose process is still running belongs to a run in progress and is kept.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for tag in ("tmp", "old"):
        prefix = f".{name}.{tag}-"
        for stale in folder.glob(f"{prefix}*"):
            pid = stale.name[len(prefix):].split("-", 1)[0]
            if pid.isdigit() and _pid_alive(int(pid)):
                continue
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
