"""Download, verify, unpack and convert public learning-to-rank datasets.

Downloads resume: bytes go to ``<archive>.part`` and an interrupted transfer continues with an HTTP
Range request. The archive gets its final name only once its sha256 matches; a mismatch deletes the
partial file and reports both checksums. Unpacking happens in a temporary folder renamed when done, and
the conversion builds the dataset folder atomically (see :mod:`ltr_cos.data.convert`), so an interrupted
fetch never leaves anything that looks complete.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ltr_cos.errors import InputError
from ltr_cos.files import sha256_file

DEFAULT_CACHE = Path(os.environ.get("LTR_COS_CACHE", "data/cache"))
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DatasetSource:
    """A dataset with a public download address.

    Attributes:
        name: registry key (``ltr-cos data fetch NAME``).
        url: download address of the archive.
        archive: file name the archive is saved under.
        sha256: expected checksum of the archive, or None when not known (then pass ``--sha256``, or the
            computed one is recorded in meta.json).
        objectives: objectives preset used when converting.
        homepage: where the dataset and its terms are described.
        terms: the terms in one line; ``needs_acceptance`` ones are fetched only with ``accept_terms``.
        needs_acceptance: the terms ask the user to agree before downloading.
    """

    name: str
    url: str
    archive: str
    sha256: str | None
    objectives: str
    homepage: str
    terms: str
    needs_acceptance: bool = False


# Checksums of the MSLR and Istella archives are those published by pytorchltr's downloaders; LETOR 4.0's
# MQ2007/MQ2008 archives are RAR files (unpacked with an external `unrar`, `7z` or `bsdtar`).
REGISTRY: dict[str, DatasetSource] = {
    s.name: s
    for s in (
        DatasetSource(
            "mslr-web10k",
            "https://api.onedrive.com/v1.0/shares/s!AtsMfWUz5l8nbOIoJ6Ks0bEMp78/root/content",
            "MSLR-WEB10K.zip",
            "2902142ea33f18c59414f654212de5063033b707d5c3939556124b1120d3a0ba",
            "mslr",
            "https://www.microsoft.com/en-us/research/project/mslr/",
            "Microsoft Research, released for research use; cite Qin & Liu 2013 (arXiv:1306.2597)",
        ),
        DatasetSource(
            "mslr-web30k",
            "https://api.onedrive.com/v1.0/shares/s!AtsMfWUz5l8nbXGPBlwD1rnFdBY/root/content",
            "MSLR-WEB30K.zip",
            "08cb7977e1d5cbdeb57a9a2537a0923dbca6d46a76db9a6afc69e043c85341ae",
            "mslr",
            "https://www.microsoft.com/en-us/research/project/mslr/",
            "Microsoft Research, released for research use; cite Qin & Liu 2013 (arXiv:1306.2597)",
        ),
        DatasetSource(
            "mq2007",
            "https://research.microsoft.com/en-us/um/beijing/projects/letor/LETOR4.0/Data/MQ2007.rar",
            "MQ2007.rar",
            None,
            "mq2008",
            "https://www.microsoft.com/en-us/research/project/letor-learning-rank-information-retrieval/",
            "Microsoft Research LETOR 4.0, research use; cite Qin & Liu 2013 (arXiv:1306.2597)",
        ),
        DatasetSource(
            "mq2008",
            "https://research.microsoft.com/en-us/um/beijing/projects/letor/LETOR4.0/Data/MQ2008.rar",
            "MQ2008.rar",
            None,
            "mq2008",
            "https://www.microsoft.com/en-us/research/project/letor-learning-rank-information-retrieval/",
            "Microsoft Research LETOR 4.0, research use; cite Qin & Liu 2013 (arXiv:1306.2597)",
        ),
        DatasetSource(
            "istella",
            "http://library.istella.it/dataset/istella-letor.tar.gz",
            "istella-letor.tar.gz",
            "d45899d9a6a0e48afb250aac7ee3dc50e73e263687f15761d754515cd8284e0b",
            "none",
            "http://quickrank.isti.cnr.it/istella-dataset/",
            "Istella LETOR licence agreement (istella-letor-LA.txt in the archive): non-commercial research "
            "use only, no redistribution",
            needs_acceptance=True,
        ),
    )
}


def _bar(total: int | None, initial: int, enabled: bool, desc: str):
    from tqdm import tqdm

    from ltr_cos.progress import on_terminal

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=desc,
                disable=not (enabled and on_terminal()), leave=False)


def _check_hex(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    text = sha256.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InputError(f"--sha256 must be 64 hex digits, got {sha256!r}")
    return text


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    progress: bool = True,
    retries: int = 5,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``dest`` with resume and checksum verification.

    Args:
        url: http(s) or file URL.
        dest: final path of the file; partial data lives in ``dest + ".part"`` until verified.
        sha256: expected hex checksum; None = accept and return the computed one.
        progress: show a progress bar (on a terminal).
        retries: how many interrupted transfers to resume before giving up.
        timeout: socket timeout in seconds.

    Returns:
        The sha256 of the downloaded file.

    Raises:
        InputError: checksum mismatch (the partial file is deleted), HTTP errors, too many interruptions.
    """
    dest = Path(dest)
    sha256 = _check_hex(sha256)
    if dest.is_file():
        got = sha256_file(dest)
        if sha256 is None or got == sha256:
            return got
        dest.unlink()  # a stale file under the final name: fetch it again
    part = Path(str(dest) + ".part")
    attempt = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        try:
            if _transfer(url, part, offset, progress, timeout):
                break
        except (http.client.IncompleteRead, ConnectionError, TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            if isinstance(exc, urllib.error.HTTPError):
                raise InputError(f"download failed: HTTP {exc.code} {exc.reason}", url) from None
            if isinstance(exc, FileNotFoundError) or (
                isinstance(exc, urllib.error.URLError) and not _retryable(exc)
            ):
                raise InputError(f"download failed: {getattr(exc, 'reason', exc)}", url) from None
        attempt += 1
        if attempt > retries:
            raise InputError(f"download interrupted {attempt} times; run the command again to resume "
                             f"from {part}", url)
        time.sleep(min(0.2 * attempt, 2.0))
    got = sha256_file(part)
    if sha256 is not None and got != sha256:
        part.unlink()
        raise InputError(f"checksum mismatch: expected sha256 {sha256}, got {got} (the download was deleted; "
                         "check the URL, or pass --sha256 for a different release)", url)
    os.replace(part, dest)
    return got


def _retryable(exc: urllib.error.URLError) -> bool:
    return isinstance(exc.reason, (ConnectionError, socket.timeout, TimeoutError))


def _transfer(url: str, part: Path, offset: int, progress: bool, timeout: float) -> bool:
    """Fetch from ``offset`` into ``part``; True when complete, False when the server ended early."""
    request = urllib.request.Request(url, headers={"User-Agent": "ltr-cos"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left past offset: the .part file is whole
            return True
        raise
    with response:
        status = getattr(response, "status", 200)
        if offset and status != 206:
            offset = 0  # the server ignored the Range header: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        received = offset
        with open(part, "ab" if offset else "wb") as out, _bar(total, offset, progress, part.name) as bar:
            while block := response.read(_CHUNK):
                out.write(block)
                received += len(block)
                bar.update(len(block))
    return total is None or received >= total


def _safe_members_zip(archive: zipfile.ZipFile, dest: Path) -> None:
    root = dest.resolve()
    for info in archive.infolist():
        target = (dest / info.filename).resolve()
        if root != target and root not in target.parents:
            raise InputError(f"archive member {info.filename!r} would land outside the target folder")


def extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unpack a zip or tar(.gz/.bz2/.xz) archive (RAR with an external tool) into ``dest``, atomically.

    Returns:
        ``dest``. An existing complete ``dest`` (marker ``.extracted``) is reused.
    """
    archive, dest = Path(archive), Path(dest)
    if (dest / ".extracted").is_file():
        return dest
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _safe_members_zip(zf, tmp)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")
        elif archive.read_bytes()[:4] == b"Rar!":
            _extract_rar(archive, tmp)
        else:
            raise InputError("not a zip, tar or rar archive", str(archive))
        (tmp / ".extracted").write_text(archive.name + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"archive is damaged ({exc})", str(archive)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _extract_rar(archive: Path, dest: Path) -> None:
    """RAR is not in the standard library: use whichever of unrar, 7z, bsdtar is installed."""
    for tool, args in (("unrar", ["x", "-o+", "-idq"]), ("7z", ["x", "-y", "-bd"]), ("bsdtar", ["-xf"])):
        exe = shutil.which(tool)
        if exe is None:
            continue
        if tool == "7z":
            cmd = [exe, *args, f"-o{dest}", str(archive)]
        elif tool == "bsdtar":
            cmd = [exe, *args, str(archive), "-C", str(dest)]
        else:
            cmd = [exe, *args, str(archive), str(dest) + os.sep]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InputError(f"{tool} could not unpack the archive: {result.stderr.strip()[:300]}", str(archive))
        return
    raise InputError(
        "this is a RAR archive and none of unrar, 7z, bsdtar is installed; unpack it yourself, then run "
        "`ltr-cos data convert FOLDER --out DIR`",
        str(archive),
    )


def fetch_dataset(
    name: str,
    out_dir: str | os.PathLike,
    url: str | None = None,
    sha256: str | None = None,
    fold: int | None = None,
    objectives: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    accept_terms: bool = False,
    progress: bool = True,
) -> dict:
    """Download (resumable), verify, unpack and convert a registered dataset.

    Args:
        name: a key of :data:`REGISTRY`.
        out_dir: the dataset folder to create.
        url: another address for the same archive (a mirror).
        sha256: expected checksum; overrides the registry's.
        fold: fold (or Yahoo set) to convert; default 1.
        objectives: objectives preset; default the registry's.
        cache_dir: where archives and unpacked files are kept (default ``$LTR_COS_CACHE`` or ``data/cache``).
        overwrite: replace an existing ``out_dir``.
        accept_terms: agree to terms that ask for it (Istella).
        progress: show progress bars (on a terminal).

    Returns:
        meta of the converted dataset, with ``download`` = {name, url, archive, sha256, sha256_source}.
    """
    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.layouts import detect_layout

    key = name.lower()
    if key not in REGISTRY:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(REGISTRY))}")
    source = REGISTRY[key]
    if source.needs_acceptance and not accept_terms:
        raise InputError(f"{source.name}: its terms must be accepted first ({source.terms}; see "
                         f"{source.homepage}); pass --accept-terms once you agree")
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputError("output already exists; pass --overwrite to replace it", str(out_dir))
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    expected = _check_hex(sha256) or source.sha256
    address = url or source.url
    archive = cache / source.archive
    got = download(address, archive, expected, progress=progress)
    unpacked = extract(archive, cache / f"{source.name}-{got[:12]}")
    layout = detect_layout(unpacked, fold)
    extra = {
        "download": {
            "name": source.name,
            "url": address,
            "archive": source.archive,
            "sha256": got,
            "sha256_source": "given" if sha256 else ("registry" if source.sha256 else "computed"),
            "layout": layout.note,
            "terms": source.terms,
        }
    }
    return convert_dataset(layout.splits, out_dir, objectives=objectives or source.objectives,
                           overwrite=overwrite, progress=progress, extra_meta=extra)
