"""ltr_cos: multi-objective learning-to-rank with COS-DPO (conditioned one-shot DPO).

One listwise ranker, conditioned on a weight vector over the objectives (and optionally on the
DPO temperature), trained once, serves any point of the Pareto front at run time.
"""

__version__ = "0.1.0"
