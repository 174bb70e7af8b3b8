"""HTTP ranking service with per-request weights, and the Pareto explorer page (FastAPI + uvicorn).

``ltr-cos serve`` builds it; ``create_app`` (in ``ltr_cos.serve.app``) and ``RankService`` (in
``ltr_cos.serve.service``) are the pieces for embedding it elsewhere.
"""
