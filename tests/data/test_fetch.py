"""Download, verify, unpack and convert, against a local HTTP server (no network needed)."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile

import numpy as np
import pytest

from ltr_cos.data.convert import is_complete, read_meta
from ltr_cos.data.fetch import REGISTRY, download, extract, fetch_dataset
from ltr_cos.errors import InputError


def _mslr_rows(rng, first_qid: int, n_queries: int) -> str:
    lines = []
    for q in range(first_qid, first_qid + n_queries):
        for _ in range(4):
            values = np.round(rng.random(136) * 10, 3)
            lines.append(f"{rng.integers(0, 5)} qid:{q} " + " ".join(f"{j + 1}:{v:g}" for j, v in enumerate(values)))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def archive() -> bytes:
    """A zip laid out like MSLR-WEB10K.zip: Fold1/{train,vali,test}.txt with 136 features."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Fold1/train.txt", _mslr_rows(rng, 1, 6))
        zf.writestr("Fold1/vali.txt", _mslr_rows(rng, 100, 2))
        zf.writestr("Fold1/test.txt", _mslr_rows(rng, 200, 2))
    return buf.getvalue()


class _Server:
    """Serves ``payload`` at /MSLR-WEB10K.zip with Range support; can drop the first transfer half way."""

    def __init__(self, payload: bytes, drop_first: bool = False, ranges: bool = True):
        self.payload = payload
        self.drop_first = drop_first
        self.ranges = ranges
        self.requests: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                if self.path != "/MSLR-WEB10K.zip":
                    self.send_error(404)
                    return
                body, start = server.payload, 0
                rng = self.headers.get("Range")
                if rng and server.ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if server.drop_first:
                    server.drop_first = False
                    self.wfile.write(body[start: start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/MSLR-WEB10K.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetch_converts_with_given_checksum(tmp_path, archive):
    with _Server(archive) as server:
        meta = fetch_dataset("mslr-web10k", tmp_path / "ds", url=server.url, sha256=_sha(archive),
                             cache_dir=tmp_path / "cache", progress=False)
    assert is_complete(tmp_path / "ds")
    assert meta["splits"]["train"] == {**meta["splits"]["train"], "rows": 24, "queries": 6}
    assert meta["objective_names"] == ["relevance", "quality", "quality2", "query_url_clicks", "url_clicks",
                                       "dwell_time"]
    assert meta["n_features"] == 131
    download_meta = read_meta(tmp_path / "ds")["download"]
    assert download_meta["sha256"] == _sha(archive) and download_meta["sha256_source"] == "given"
    assert download_meta["url"] == server.url
    assert (tmp_path / "cache" / "MSLR-WEB10K.zip").read_bytes() == archive


def test_corrupted_archive_is_refused_and_nothing_looks_complete(tmp_path, archive):
    corrupted = archive[:100] + bytes([archive[100] ^ 0xFF]) + archive[101:]
    with _Server(corrupted) as server, pytest.raises(InputError) as info:
        fetch_dataset("mslr-web10k", tmp_path / "ds", url=server.url, sha256=_sha(archive),
                      cache_dir=tmp_path / "cache", progress=False)
    message = str(info.value)
    assert "checksum mismatch" in message and _sha(archive) in message and _sha(corrupted) in message
    assert not (tmp_path / "ds").exists()
    assert list((tmp_path / "cache").iterdir()) == []


def test_registry_checksum_applies_to_a_mirror(tmp_path, archive):
    # without --sha256 the registry's checksum of the real archive is expected: our test zip fails it
    with _Server(archive) as server, pytest.raises(InputError, match=REGISTRY["mslr-web10k"].sha256):
        fetch_dataset("mslr-web10k", tmp_path / "ds", url=server.url, cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "ds").exists()


def test_interrupted_download_resumes_with_range(tmp_path, archive):
    with _Server(archive, drop_first=True) as server:
        got = download(server.url, tmp_path / "a.zip", sha256=_sha(archive), progress=False)
    assert got == _sha(archive)
    assert (tmp_path / "a.zip").read_bytes() == archive
    assert not (tmp_path / "a.zip.part").exists()
    assert server.requests[0] is None
    assert server.requests[1] == f"bytes={len(archive) // 2}-"


def test_resume_from_an_earlier_part_file_and_server_without_ranges(tmp_path, archive):
    (tmp_path / "a.zip.part").write_bytes(archive[:1000])
    with _Server(archive) as server:
        download(server.url, tmp_path / "a.zip", sha256=_sha(archive), progress=False)
    assert server.requests == ["bytes=1000-"]
    (tmp_path / "b.zip.part").write_bytes(b"garbage that must be replaced")
    with _Server(archive, ranges=False) as server:  # answers 200 to a Range request: start over
        download(server.url, tmp_path / "b.zip", sha256=_sha(archive), progress=False)
    assert (tmp_path / "b.zip").read_bytes() == archive


def test_unknown_checksum_is_computed_and_recorded(tmp_path, archive):
    with _Server(archive) as server:
        assert download(server.url, tmp_path / "a.zip", progress=False) == _sha(archive)
        with pytest.raises(InputError, match="HTTP 404"):
            download(server.url.replace("MSLR-WEB10K", "missing"), tmp_path / "b.zip", progress=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="unknown dataset 'nope'"):
        fetch_dataset("nope", tmp_path / "ds")
    with pytest.raises(InputError, match="64 hex digits"):
        download("http://127.0.0.1:9/x", tmp_path / "x", sha256="abc")
    with pytest.raises(InputError, match="--accept-terms"):
        fetch_dataset("istella", tmp_path / "ds", cache_dir=tmp_path / "cache")


def test_extract_refuses_damaged_and_escaping_archives(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 damaged")
    with pytest.raises(InputError):
        extract(tmp_path / "bad.zip", tmp_path / "out")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../escape.txt", "x")
    (tmp_path / "evil.zip").write_bytes(buf.getvalue())
    with pytest.raises(InputError, match="outside the target folder"):
        extract(tmp_path / "evil.zip", tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
