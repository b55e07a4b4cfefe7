"""Celery workers: thin adapters that load a job, run ``pipeline``, record the outcome."""
