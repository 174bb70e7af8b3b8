"""Fast LibSVM/SVMlight ranking-file reader.

Rows look like ``label [qid:Q] id:value id:value ... [# comment]`` with 1-based feature ids. The reader
accepts CRLF line ends, trailing spaces, blank and comment-only lines, sparse and dense rows, gzip files,
and LightGBM ``.query`` side files (one document count per line) for files without ``qid:``.

The package has one file per concern:

* ``fast.py``: the chunk parser (whole buffers, NumPy and Arrow kernels, vectorised checks);
* ``diagnose.py``: the exact error path, run only on a rejected chunk (file, line, what was expected);
* ``queries.py``: ``qid:``, ``.query`` side files and the file-wide query rules;
* ``reader.py``: chunks parsed on a thread pool and reassembled in file order; the public readers.
"""

from ltr_cos.data.libsvm.queries import read_query_file
from ltr_cos.data.libsvm.reader import (
    DEFAULT_CHUNK_BYTES,
    LibSVMTable,
    default_threads,
    iter_libsvm,
    read_libsvm,
    scan_libsvm,
)
from ltr_cos.data.limits import MAX_DENSE_BLOCK_BYTES, MAX_FEATURE_ID

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "MAX_DENSE_BLOCK_BYTES",
    "MAX_FEATURE_ID",
    "LibSVMTable",
    "default_threads",
    "iter_libsvm",
    "read_libsvm",
    "read_query_file",
    "scan_libsvm",
]
