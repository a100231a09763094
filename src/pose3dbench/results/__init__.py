"""What a run records, with no torch and no matplotlib: the results.json schema and its typed records, the
predictions file format, the robustness table, and the store that owns a run folder. Both ``eval`` (which writes
results) and ``report`` (which reads them) depend on this package; neither depends on the other. The metrics
themselves are ``pose3dbench.metrics`` (dataset-free) and each dataset's scoring (``data/<dataset>/``).

- ``schema``: results.json version 2, ``validate_results``, and ``upgrade_document`` for version-1 files.
- ``records``: ``ModelEntry``, ``Evaluation`` (clean or corrupted), ``RootEvaluation`` with ``to_json``.
- ``predictions``: the ``.npz`` / ``.json`` predictions format (save, load, match to samples).
- ``robustness``: mCE and relative degradation from corruption evaluations.
- ``store``: ``ResultsStore`` (file names, previous run, re-use, atomic writes, the ``--force`` swap).
"""
