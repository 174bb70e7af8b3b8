"""The ablation tool's variant grammar and table (the runs themselves are benchmarks, not tests)."""

import pytest

from benchmarks.ablation import parse_changes, parse_variant, render
from ltr_cos.errors import InputError


def test_changes_take_each_fields_type():
    changes = parse_changes("alpha=0.5,policy_min_steps=150,schedule=cosine,select_best=true,hidden_sizes=128/64")
    assert changes == {"alpha": 0.5, "policy_min_steps": 150, "schedule": "cosine", "select_best": True,
                       "hidden_sizes": (128, 64)}
    assert parse_changes("hidden_sizes=128") == {"hidden_sizes": (128,)}  # a one-layer MLP, not the int 128


def test_unknown_fields_and_bad_variants_are_refused():
    with pytest.raises(InputError, match="expected FIELD=VALUE"):
        parse_changes("alpah=0.5")
    with pytest.raises(InputError, match="NAME:FIELD=VALUE"):
        parse_variant("alpha=0.5")
    assert parse_variant("base:") == ("base", {})


def test_render_reports_mean_spread_and_worst_run():
    runs = [{"hv_aux_ratio": r, "hv_main_ratio": 1.0, "hv_aux": 0.08, "hv_aux_ls": 0.07, "main_diff": -0.01,
             "cpu_ratio": 0.2, "steps": 240} for r in (1.0, 1.2)]
    table = render({"mq2008": {"base": runs}})
    assert "| base | 1.100 ± 0.141 | 1.000 ± 0.000 | 1.000 | 0.0800 / 0.0700 | -0.0100 | 0.200 | 240 |" in table
