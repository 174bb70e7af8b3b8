"""Recognise the folder layouts of public learning-to-rank datasets and map their files to splits.

* MSLR-WEB10K/30K, Istella, LETOR 4.0 (MQ2007, MQ2008): ``FoldN/{train,vali,test}.txt``
* LETOR 3.0 (OHSUMED, TD2003, ...): ``FoldN/{trainingset,validationset,testset}.txt``
* LETOR 4.0 parts: ``S1.txt .. S5.txt`` with the fold table of the LETOR 4.0 readme
  (Fold k: train = S(k), S(k+1), S(k+2); vali = S(k+3); test = S(k+4), numbers taken modulo 5)
* Yahoo LTR: ``set1.{train,valid,test}.txt`` (and set2)
* any folder or list of files whose names say ``train``, ``vali``/``valid`` or ``test``
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ltr_cos.errors import InputError

SPLITS = ("train", "vali", "test")
# Names that are never data files, even when they mention a split.
_SIDE_SUFFIXES = (".query", ".md", ".pdf", ".html", ".zip", ".rar", ".tar", ".tgz", ".json", ".parquet",
                  ".py", ".sh", ".part")
_PART = re.compile(r"^s([1-5])(\.txt)?(\.gz)?$", re.IGNORECASE)
_FOLD = re.compile(r"^fold(\d+)$", re.IGNORECASE)
_YAHOO = re.compile(r"^set(\d+)\.(train|valid|test)\.txt(\.gz)?$", re.IGNORECASE)


@dataclass
class Layout:
    """Files of a dataset mapped to splits.

    Attributes:
        kind: ``folds``, ``parts``, ``yahoo`` or ``split-files``.
        splits: {"train" | "vali" | "test": [files in order]} (only the splits found).
        fold: the fold (or Yahoo set) used, if the layout has several.
        note: one line describing what was recognised.
    """

    kind: str
    splits: dict[str, list[Path]] = field(default_factory=dict)
    fold: int | None = None
    note: str = ""


def split_of_name(name: str) -> str | None:
    """The split a file name names (``train``, ``vali`` or ``test``), or None.

    ``valid``/``validation``/``vali`` -> vali; ``trainingset`` -> train; ``testset`` -> test.

    Raises:
        InputError: when the name mentions more than one split.
    """
    low = name.lower()
    found = [s for s, pat in (("train", "train"), ("vali", "vali"), ("test", "test")) if pat in low]
    if len(found) > 1:
        raise InputError(f"file name mentions several splits ({', '.join(found)}); use --train/--vali/--test", name)
    return found[0] if found else None


def is_data_file(path: Path) -> bool:
    """Whether ``path`` looks like a ranking text file (not a side file, archive or document)."""
    name = path.name.lower()
    return path.is_file() and not name.startswith(".") and not name.endswith(_SIDE_SUFFIXES) \
        and "readme" not in name and "license" not in name


def fold_table(fold: int) -> dict[str, list[int]]:
    """LETOR 4.0 fold table: part numbers (1..5) of each split of fold 1..5."""
    if not 1 <= fold <= 5:
        raise InputError(f"fold must be 1..5 for S1..S5 parts, got {fold}")
    part = [(fold - 1 + i) % 5 + 1 for i in range(5)]
    return {"train": part[:3], "vali": [part[3]], "test": [part[4]]}


def _parts(files: Iterable[Path]) -> dict[int, Path]:
    out: dict[int, Path] = {}
    for f in files:
        m = _PART.match(f.name)
        if m:
            out[int(m.group(1))] = f
    return out


def _from_parts(parts: dict[int, Path], fold: int, where: str) -> Layout:
    missing = sorted(set(range(1, 6)) - set(parts))
    if missing:
        raise InputError(f"fold {fold} needs S1..S5; missing {', '.join(f'S{i}' for i in missing)}", where)
    table = fold_table(fold)
    splits = {s: [parts[i] for i in nums] for s, nums in table.items()}
    desc = "; ".join(f"{s} = {'+'.join(f'S{i}' for i in nums)}" for s, nums in table.items())
    return Layout("parts", splits, fold, f"LETOR 4.0 parts, fold {fold}: {desc}")


def _by_split_name(files: Iterable[Path]) -> dict[str, list[Path]]:
    splits: dict[str, list[Path]] = {}
    for f in sorted(files):
        split = split_of_name(f.name)
        if split is not None:
            splits.setdefault(split, []).append(f)
    return splits


def detect_layout(folder: str | Path, fold: int | None = None) -> Layout:
    """Recognise a dataset folder.

    Args:
        folder: the dataset folder (or a folder holding exactly one dataset folder, as archives unpack).
        fold: fold for ``FoldN`` and ``S1..S5`` layouts (default 1), Yahoo set number (default 1).

    Raises:
        InputError: when nothing recognisable is found, or the fold is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder", str(folder))
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    files = [p for p in entries if is_data_file(p)]
    dirs = [p for p in entries if p.is_dir()]

    folds = {int(m.group(1)): d for d in dirs if (m := _FOLD.match(d.name))}
    if folds:
        k = fold or 1
        if k not in folds:
            raise InputError(f"no Fold{k} folder (found {', '.join(f'Fold{i}' for i in sorted(folds))})", str(folder))
        splits = _by_split_name(p for p in folds[k].iterdir() if is_data_file(p))
        if not splits:
            raise InputError("no train/vali/test files", str(folds[k]))
        return Layout("folds", splits, k, f"{folds[k].name}: " + ", ".join(
            f"{s} = {'+'.join(p.name for p in fs)}" for s, fs in splits.items()))

    parts = _parts(files)
    if parts and (fold is not None or len(parts) == 5):
        return _from_parts(parts, fold or 1, str(folder))

    yahoo: dict[int, dict[str, list[Path]]] = {}
    for f in files:
        m = _YAHOO.match(f.name)
        if m:
            split = "vali" if m.group(2).lower() == "valid" else m.group(2).lower()
            yahoo.setdefault(int(m.group(1)), {}).setdefault(split, []).append(f)
    if yahoo:
        k = fold or 1
        if k not in yahoo:
            raise InputError(f"no set{k}.*.txt files (found sets {sorted(yahoo)})", str(folder))
        return Layout("yahoo", yahoo[k], k, f"Yahoo LTR set{k}: " + ", ".join(sorted(yahoo[k])))

    splits = _by_split_name(files)
    if splits:
        if fold is not None:
            raise InputError(f"--fold {fold}: this folder has no folds (FoldN/, S1..S5 or Yahoo sets), only files "
                             f"named by split ({', '.join(splits)}); leave out --fold", str(folder))
        return Layout("split-files", splits, None, ", ".join(
            f"{s} = {'+'.join(p.name for p in fs)}" for s, fs in splits.items()))

    if len(dirs) == 1:
        return detect_layout(dirs[0], fold)  # archives often unpack into one folder (beside a licence file)
    raise InputError(
        "no dataset layout recognised (expected FoldN/{train,vali,test}.txt, S1..S5.txt, "
        "set1.{train,valid,test}.txt, or files named train/vali/test)",
        str(folder),
    )


def assign_files(paths: Iterable[str | Path], fold: int | None = None) -> Layout:
    """Map loose files to splits by their names; files that name no split go to ``train``.

    With ``fold`` and files named S1..S5, the LETOR 4.0 fold table is used instead.
    """
    paths = [Path(p) for p in paths]
    parts = _parts(paths)
    if fold is not None and parts:
        if len(parts) != len(paths):
            raise InputError("--fold with S1..S5 files: give only the five part files")
        return _from_parts(parts, fold, str(paths[0].parent))
    if fold is not None:
        raise InputError(f"--fold {fold}: the files are not S1..S5 parts, so there are no folds to choose; "
                         "leave out --fold")
    splits: dict[str, list[Path]] = {}
    for p in paths:
        splits.setdefault(split_of_name(p.name) or "train", []).append(p)
    return Layout("files", {s: splits[s] for s in SPLITS if s in splits}, None,
                  ", ".join(f"{s} = {len(fs)} file(s)" for s, fs in splits.items()))
