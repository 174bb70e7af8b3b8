"""Every `-h` describes its command, gives every option a help line and lists choices."""

from __future__ import annotations

import argparse

import pytest

from ltr_cos.commands import data, llm, pareto


def _parsers():
    parser = data._parser(data._registry_names(), data._synth_presets())
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    yield "data", parser
    for name, child in sub.choices.items():
        yield f"data {name}", child
    yield "pareto", pareto.build_parser()


@pytest.mark.parametrize(("name", "parser"), list(_parsers()), ids=lambda v: v if isinstance(v, str) else "")
def test_parser_has_description_and_option_help(name, parser):
    assert parser.description and len(parser.description) > 20, name
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help"


def test_synth_lists_its_presets():
    parser = dict(_parsers())["data synth"]
    preset = next(a for a in parser._actions if a.dest == "preset")
    assert preset.choices == ["mslr-web10k", "mslr-web30k"]


@pytest.mark.parametrize("command", ["generate", "pareto", "demo"])
def test_llm_help_has_a_description_and_no_timing_line(command, capsys):
    assert llm.main([command, "-h"]) == 0
    captured = capsys.readouterr()
    assert "took" not in captured.err  # no "(generate took 0 s)" after the help
    description = captured.out.split("\n\n")[1]
    assert len(description) > 40 and description[0].isupper(), description
    if command != "pareto":
        assert "--max-new-tokens MAX_NEW_TOKENS\n                        longest response" in captured.out


def test_llm_usage_error_has_no_timing_line(capsys):
    assert llm.main(["generate", "--nope"]) == 2
    assert "took" not in capsys.readouterr().err
