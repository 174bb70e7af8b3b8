"""LLM preference data: PKU-SafeRLHF pairs, listwise rows, bad rows with row numbers, batches."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from ltr_cos.errors import InputError
from ltr_cos.llm.data import collate_encoded, encode_example, load_preferences

from .helpers import trained_tokenizer

PKU_ROW = {"prompt": "How do I bake bread?", "response_0": "Knead and bake.", "response_1": "No.",
           "better_response_id": 0, "safer_response_id": 1}


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_pku_pairs_to_two_objectives(tmp_path):
    data = load_preferences(write(tmp_path / "p.jsonl", [PKU_ROW, {**PKU_ROW, "better_response_id": 1}]))
    assert data.objective_names == ("helpful", "harmless")
    assert data.examples[0].labels == ((1.0, 0.0), (0.0, 1.0))
    assert data.examples[1].labels == ((0.0, 0.0), (1.0, 1.0))
    table = pa.Table.from_pylist([PKU_ROW])
    pq.write_table(table, tmp_path / "p.parquet")
    assert load_preferences(tmp_path / "p.parquet").examples[0] == data.examples[0]


def test_listwise_rows(tmp_path):
    row = {"prompt": "Q?", "responses": ["a", "bb", "ccc"], "labels": {"short": [3, 2, 1], "long": [1, 2, 3]}}
    data = load_preferences(write(tmp_path / "l.jsonl", [row, row]))
    assert data.objective_names == ("short", "long")
    assert data.examples[0].labels == ((3.0, 1.0), (2.0, 2.0), (1.0, 3.0))
    assert load_preferences(tmp_path / "l.jsonl", objectives=["long"]).examples[0].labels == ((1.0,), (2.0,), (3.0,))


@pytest.mark.parametrize("bad, message", [
    ({k: v for k, v in PKU_ROW.items() if k != "response_1"}, "missing field 'response_1'"),
    ({**PKU_ROW, "safer_response_id": 2}, "safer_response_id"),
    ({**PKU_ROW, "response_0": "   "}, "response_0 is empty"),
])
def test_bad_pku_rows_name_the_line(tmp_path, bad, message):
    path = write(tmp_path / "p.jsonl", [PKU_ROW, bad])
    with pytest.raises(InputError, match=message) as err:
        load_preferences(path)
    assert err.value.line == 2 and f"{path}:2:" in str(err.value)


@pytest.mark.parametrize("bad, message", [
    ({"prompt": "Q", "responses": [], "labels": {"x": []}}, "non-empty list"),
    ({"prompt": "Q", "responses": ["a", ""], "labels": {"x": [1, 2]}}, r"responses\[1\] is empty"),
    ({"prompt": "Q", "responses": ["a", "b"], "labels": {"x": [1]}}, "must list 2 numbers"),
    ({"prompt": "Q", "responses": ["a", "b"], "labels": {"y": [1, 2]}}, "no objective 'x'"),
    ({"prompt": "Q", "responses": ["a", "b"], "labels": {"x": [1, "good"]}}, "non-numeric"),
])
def test_bad_listwise_rows_name_the_line(tmp_path, bad, message):
    good = {"prompt": "Q", "responses": ["a", "b"], "labels": {"x": [1, 2]}}
    path = tmp_path / "l.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match=message) as err:
        load_preferences(path)
    assert err.value.line == 3


def test_invalid_json_and_missing_file(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(PKU_ROW) + "\n{not json\n")
    with pytest.raises(InputError, match="invalid JSON") as err:
        load_preferences(path)
    assert err.value.line == 2
    with pytest.raises(InputError, match="not found"):
        load_preferences(tmp_path / "none.jsonl")


def test_batch_masks_prompt_response_and_padding(tmp_path):
    tok = trained_tokenizer()
    row1 = {"prompt": "How do I bake bread?", "responses": ["Knead.", "Mix flour, water and bake it."],
            "labels": {"x": [1, 0]}}
    row2 = {"prompt": "Hi", "responses": ["Hello there!"], "labels": {"x": [1]}}
    data = load_preferences(write(tmp_path / "l.jsonl", [row1, row2]))
    encoded = [encode_example(tok, ex) for ex in data.examples]
    batch = collate_encoded(encoded, tok.pad_token_id)
    assert batch.input_ids.shape[:2] == (2, 2) and batch.mask.tolist() == [[True, True], [True, False]]
    for i, e in enumerate(encoded):
        p = len(e.prompt_ids)
        for j, r in enumerate(e.response_ids):
            assert batch.input_ids[i, j, :p].tolist() == list(e.prompt_ids)
            assert not batch.response_mask[i, j, :p].any()
            assert batch.response_mask[i, j].sum() == len(r)
            assert r[-1] == tok.eos_token_id
            assert tok.decode(batch.input_ids[i, j][batch.response_mask[i, j]], skip_special_tokens=True) \
                == data.examples[i].responses[j]
            assert batch.attention_mask[i, j].sum() == p + len(r)
    assert not batch.attention_mask[1, 1].any() and batch.labels.dtype == torch.float32


def test_synthetic_sources():
    pku = load_preferences("synthetic:pku:20:3")
    assert len(pku) == 20 and pku.objective_names == ("helpful", "harmless")
    assert load_preferences("synthetic:pku:20:3") == pku
    style = load_preferences("synthetic:style")
    assert style.objective_names == ("brevity", "courtesy")
    with pytest.raises(InputError, match="synthetic"):
        load_preferences("synthetic:nope")
