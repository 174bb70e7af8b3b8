"""``ltr-cos export``: write a trained ranker as a TorchScript or ONNX artifact with a JSON sidecar.

The artifact's forward takes features [B, L, F] float32, mask [B, L] bool, weights [B, m] float32 (for
conditioned models) and log_beta [B] (for temperature models) and returns scores [B, L]; feature
normalisation is inside. ``ltr-cos rank`` and ``ltr_cos.export.load_artifact`` read it.
"""

from __future__ import annotations

import argparse
import sys

from ltr_cos.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltr-cos export", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", required=True, help="checkpoint of a reference or COS-DPO run")
    p.add_argument(
        "--format",
        choices=("torchscript", "onnx"),
        default="torchscript",
        help="artifact format (default: torchscript)",
    )
    p.add_argument("--out", required=True, help="artifact folder to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing artifact folder")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from ltr_cos.export import export_ranker, load_artifact
        from ltr_cos.training import load_ranker_from_checkpoint

        loaded = load_ranker_from_checkpoint(args.ckpt)
        out = export_ranker(
            loaded.ranker, args.out, format=args.format, info=loaded.info, overwrite=args.overwrite
        )
        info = load_artifact(out).info
    except InputError as exc:
        print(f"ltr-cos: error: {exc}", file=sys.stderr)
        return 2
    inputs = ", ".join(spec["name"] for spec in info["inputs"])
    weighted = ", ".join(map(str, info["weighted_objectives"])) or "-"
    print(f"exported {info['format']} ranker to {out} (inputs: {inputs}; weighted objectives: {weighted})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
