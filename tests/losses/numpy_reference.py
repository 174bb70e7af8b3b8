"""Slow, loop-based NumPy/math versions of the losses, written from the definitions (docs/method.md §2-4 and the
cited papers), sharing no code with ``ltr_cos.losses``. Inputs are NumPy arrays; padding is a bool mask.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _real(mask_row) -> list[int]:
    return [i for i, m in enumerate(mask_row) if m]


def _logsumexp(values) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _softmax(values) -> list[float]:
    lse = _logsumexp(values)
    return [math.exp(v - lse) for v in values]


def _gain(y: float, gain: str) -> float:
    return y if gain == "identity" else 2.0**y - 1.0


def _informative(values) -> bool:
    return len(values) >= 2 and max(values) != min(values)


def listnet(scores, labels, mask, gain="identity", tau=1.0, drop_uninformative=False) -> float:
    losses = []
    for b in range(len(scores)):
        idx = _real(mask[b])
        if not idx or (drop_uninformative and not _informative([labels[b][i] for i in idx])):
            continue
        p = _softmax([_gain(labels[b][i], gain) / tau for i in idx])
        q = _softmax([scores[b][i] for i in idx])
        losses.append(-sum(pi * math.log(qi) for pi, qi in zip(p, q)))
    return sum(losses) / len(losses) if losses else 0.0


def pl_nll(logits: list[float], top_k=None) -> float:
    """-log of the Plackett-Luce probability of the order in which ``logits`` are given."""
    n = len(logits)
    t_max = n if top_k is None else min(top_k, n)
    return sum(_logsumexp(logits[t:]) - logits[t] for t in range(t_max))


def tie_consistent_orders(labels: list[float]) -> list[list[int]]:
    """Every order of range(len(labels)) sorting labels descending (all orders inside tie groups)."""
    groups = [[i for i, y in enumerate(labels) if y == v] for v in sorted(set(labels), reverse=True)]
    return [
        [i for part in parts for i in part]
        for parts in itertools.product(*(itertools.permutations(g) for g in groups))
    ]


def listmle_orders(scores_row, labels_row, mask_row) -> list[float]:
    """ListMLE loss of one query under each tie-consistent order."""
    idx = _real(mask_row)
    orders = tie_consistent_orders([labels_row[i] for i in idx])
    return [pl_nll([scores_row[idx[o]] for o in order]) for order in orders]


def listmle_no_ties(scores, labels, mask) -> float:
    losses = []
    for b in range(len(scores)):
        if not any(mask[b]):
            continue
        values = listmle_orders(scores[b], labels[b], mask[b])
        assert len(values) == 1, "labels must be distinct"
        losses.append(values[0])
    return sum(losses) / len(losses) if losses else 0.0


def _dcg_discount(position: int) -> float:
    """1 / log2(1 + position), position 1-based."""
    return 1.0 / math.log2(1.0 + position)


def lambda_ndcg2pp(scores, labels, mask, k=None, sigma=1.0, mu=10.0) -> float:
    """Wang et al. 2018, NDCGLoss2++ weighting, per query summed over pairs, mean over queries."""
    losses = []
    for b in range(len(scores)):
        idx = _real(mask[b])
        if not idx:
            continue
        ranked = sorted(idx, key=lambda i: -scores[b][i])  # position p (1-based) holds ranked[p-1]
        n = len(ranked)
        kk = n if k is None else min(k, n)
        ideal = sorted((labels[b][i] for i in idx), reverse=True)
        max_dcg = max(sum((2.0 ** ideal[p] - 1.0) * _dcg_discount(p + 1) for p in range(kk)), 1e-10)
        total = 0.0
        for pi in range(1, kk + 1):
            for pj in range(1, kk + 1):
                i, j = ranked[pi - 1], ranked[pj - 1]
                if not labels[b][i] > labels[b][j]:
                    continue
                gi = (2.0 ** labels[b][i] - 1.0) / max_dcg
                gj = (2.0 ** labels[b][j] - 1.0) / max_dcg
                gap = abs(pi - pj)
                delta = _dcg_discount(gap) - _dcg_discount(gap + 1)
                lambdarank = abs(_dcg_discount(pi) - _dcg_discount(pj))
                weight = (mu * delta + lambdarank) * abs(gi - gj)
                prob = 1.0 / (1.0 + math.exp(-sigma * (scores[b][i] - scores[b][j])))
                total += -weight * math.log2(prob)
        losses.append(total)
    return sum(losses) / len(losses) if losses else 0.0


def approx_ndcg(scores, labels, mask, alpha=1.0) -> float:
    """Qin et al. 2010: NDCG with smooth positions; returns -mean over queries."""
    values = []
    for b in range(len(scores)):
        idx = _real(mask[b])
        if not idx:
            continue
        ideal = sorted((labels[b][i] for i in idx), reverse=True)
        max_dcg = max(sum((2.0**y - 1.0) * _dcg_discount(p + 1) for p, y in enumerate(ideal)), 1e-10)
        total = 0.0
        for i in idx:
            position = 1.0 + sum(
                1.0 / (1.0 + math.exp(alpha * (scores[b][i] - scores[b][j]))) for j in idx if j != i
            )
            total += (2.0 ** labels[b][i] - 1.0) / max_dcg / math.log2(1.0 + position)
        values.append(-total)
    return sum(values) / len(values) if values else 0.0


def listnet_dpo(scores, ref_scores, labels, mask, beta, gain="identity", tau=1.0):
    """Per-query, per-objective ListNet-DPO; labels [B, L, K]. Returns (loss [B, K], valid [B, K])."""
    bsz, _, n_obj = np.shape(labels)
    loss = np.zeros((bsz, n_obj))
    valid = np.zeros((bsz, n_obj), dtype=bool)
    for b in range(bsz):
        idx = _real(mask[b])
        for k in range(n_obj):
            ys = [labels[b][i][k] for i in idx]
            if not _informative(ys):
                continue
            valid[b, k] = True
            p = _softmax([_gain(y, gain) / tau for y in ys])
            q = _softmax([beta[b] * (scores[b][i] - ref_scores[b][i]) for i in idx])
            loss[b, k] = -sum(pi * math.log(qi) for pi, qi in zip(p, q))
    return loss, valid


def pl_dpo_average(scores, ref_scores, labels, mask, beta, top_k=None):
    """Per-query, per-objective PL-DPO averaged exactly over all tie-consistent orders."""
    bsz, _, n_obj = np.shape(labels)
    loss = np.zeros((bsz, n_obj))
    valid = np.zeros((bsz, n_obj), dtype=bool)
    for b in range(bsz):
        idx = _real(mask[b])
        z = [beta[b] * (scores[b][i] - ref_scores[b][i]) for i in idx]
        for k in range(n_obj):
            ys = [labels[b][i][k] for i in idx]
            if not _informative(ys):
                continue
            valid[b, k] = True
            orders = tie_consistent_orders(ys)
            loss[b, k] = sum(pl_nll([z[o] for o in order], top_k) for order in orders) / len(orders)
    return loss, valid


def cos_dpo(per_query, valid, weights, cosine_lambda=0.0) -> tuple[float, list[float], list[float]]:
    """docs/method.md §4 from per-query losses [B, m], validity [B, m] and weights [B, m]."""
    bsz, m = np.shape(per_query)
    loss = 0.0
    per_objective, fraction = [], []
    for k in range(m):
        rows = [b for b in range(bsz) if valid[b][k]]
        loss += sum(weights[b][k] * per_query[b][k] for b in rows) / max(1, len(rows))
        per_objective.append(sum(per_query[b][k] for b in rows) / max(1, len(rows)))
        fraction.append(len(rows) / bsz)
    cosines = []
    for b in range(bsz):
        ks = [k for k in range(m) if valid[b][k]]
        if not ks:
            continue
        dot = sum(weights[b][k] * per_query[b][k] for k in ks)
        nw = math.sqrt(sum(weights[b][k] ** 2 for k in ks))
        nl = math.sqrt(sum(per_query[b][k] ** 2 for k in ks))
        cosines.append(dot / (nw * nl) if nw * nl > 0 else 0.0)
    if cosines:
        loss -= cosine_lambda * sum(cosines) / len(cosines)
    return loss, per_objective, fraction
