"""Ranking metrics: masked NDCG@k for every objective (docs/method.md §8)."""

from ltr_cos.metrics.ndcg import NDCGMetric, ndcg_per_query, ndcg_table

__all__ = ["NDCGMetric", "ndcg_per_query", "ndcg_table"]
