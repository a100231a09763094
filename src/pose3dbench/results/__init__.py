"""What a run records, with no torch and no matplotlib: the results.json schema and its typed records, the
predictions file format, the metrics computed from predictions, the robustness table, and the store that
owns a run folder. Both ``eval`` (which writes results) and ``report`` (which reads them) depend on this
package; neither depends on the other.

- ``schema``: results.json version 1 and ``validate_results``.
- ``records``: ``ModelEntry``, ``Evaluation``, ``RootEvaluation``, ``CorruptionEvaluation`` with ``to_json``.
- ``predictions``: the ``.npz`` / ``.json`` predictions format (save, load, match to samples).
- ``metrics``: MPJPE / PA-MPJPE per action and joint, MRPE (pure numpy, camera mm).
- ``robustness``: mCE and relative degradation from corruption evaluations.
- ``store``: ``ResultsStore`` (file names, previous run, re-use, atomic writes, the ``--force`` swap).
"""
