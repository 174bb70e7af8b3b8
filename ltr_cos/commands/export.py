"""``ltr-cos export``: write a trained ranker as a TorchScript or ONNX artifact with a JSON sidecar.

The artifact's forward takes features [B, L, F] float32, mask [B, L] bool, weights [B, m] float32 (for
conditioned models) and log_beta [B], and returns scores [B, L]; feature normalisation is inside.
``ltr-cos rank`` and ``ltr_cos.export.load_artifact`` read it.

log_beta: a Temperature-COS-DPO model takes it as its own input. A Weight-COS-DPO (or DPO-LS) policy is
exported, by default, together with its frozen reference ranker, and the artifact applies the temperature
rescaling of docs/method.md §5, f_ref + (trained_beta / beta') (f_theta - f_ref) (exact at the trained beta). ``--fixed-beta``
exports the policy alone (no log_beta input, half the compute), always at its trained beta.
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
    p.add_argument(
        "--fixed-beta",
        action="store_true",
        help="Weight-COS-DPO: export the policy alone, at its trained beta, without the reference ranker "
        "that run-time beta rescaling needs (default: embed it)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from ltr_cos.export import export_ranker, load_artifact
        from ltr_cos.training import load_ranker_from_checkpoint

        loaded = load_ranker_from_checkpoint(args.ckpt)
        rescale = loaded.reference is not None and not loaded.info.get("temperature_conditioning")
        if args.fixed_beta and not rescale:
            raise InputError(
                "--fixed-beta applies to Weight-COS-DPO checkpoints only (this one has no reference "
                "ranker, or takes beta as an input)",
                args.ckpt,
            )
        out = export_ranker(
            loaded.ranker,
            args.out,
            format=args.format,
            info=loaded.info,
            overwrite=args.overwrite,
            reference=loaded.reference if rescale and not args.fixed_beta else None,
        )
        info = load_artifact(out).info
    except InputError as exc:
        print(f"ltr-cos: error: {exc}", file=sys.stderr)
        return 2
    inputs = ", ".join(spec["name"] for spec in info["inputs"])
    weighted = ", ".join(map(str, info["weighted_objectives"])) or "-"
    beta_control = info.get("beta_control")
    if beta_control == "rescale":
        control = f"beta rescales around the embedded reference ranker (trained at {info['trained_beta']:g})"
    else:
        control = "beta is a model input" if beta_control == "input" else "no beta input"
    print(
        f"exported {info['format']} ranker to {out} (inputs: {inputs}; weighted objectives: {weighted}; "
        f"{control})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
