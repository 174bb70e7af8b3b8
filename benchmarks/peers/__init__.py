"""Peers of the benchmarks: LightGBM lambdarank and allRank's context-aware Transformer.

Each peer is imported only where it runs (allRank alone costs about 1 GB of RSS), never by the package.
"""
