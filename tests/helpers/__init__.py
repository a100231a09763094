"""Shared builders of the test suite, importable as ``tests.helpers.<module>`` (pytest puts the repository root on
``sys.path``: pyproject's ``pythonpath``; scripts run from the repository root with ``python -m``).

- ``paths``: where the fixtures are (``TESTS``, ``FIXTURES``, the real Human3.6M record and RootNet files) and the
  model specs of the models below (``BYO``, ``tiny_spec``).
- ``datasets``: dataset folders built for a test (the real S11 record, the pipeline-vector folder).
- ``pipeline``: the pipeline conformance vectors (JPEG -> coordinates of the authors' code) and ``run_and_read``.
- ``conformance``: the network conformance vectors (recipe-v1 weights, recorded heatmaps).
- ``reference``: per-sample reference implementations of the authors' alignments (rigid, scaled Procrustes).
- ``runs``: building ``pose3dbench run`` command lines, checking failures, comparing whole runs.
- ``byo_model``: a bring-your-own model (the README's example: ``--model tests/helpers/byo_model.py:build``).
- ``tiny_models``: tiny deterministic models for the robustness, resume and sharding tests (slow, interrupting,
  RootNet-like), loaded by path as bring-your-own specs.
"""
