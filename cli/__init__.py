"""The ``deepfake`` command-line front end: an adapter over ``core`` and ``pipeline``, like ``api`` and ``workers``."""
