"""A run folder's results: ``results.json``, the predictions files beside it, and what may be re-used.

Layout of a run folder (``--out``)::

    results.json                                          the document (results.schema), rewritten atomically
    predictions/<model>__<dataset>__<split>__<root>.npz    one per evaluation (results.predictions format)
    predictions/corrupted/<model>__<dataset>__<split>__<root>__<corruption>__s<severity>.npz
    partial/<model>__<dataset>__<split>__<box>__flip<0|1>/ resume chunks while a split is computed
    .force-staging/                                       where ``--force`` computes before it replaces the above

``ResultsStore`` owns that layout: file names, loading (and pruning) the previous document, finding a
previous evaluation of the same model, validated atomic writes, and the ``--force`` swap.

What is re-used is verified first: results.json is written with ``_checksum`` (sha256 of the document without it,
``document_checksum``) and every evaluation with ``predictions_sha256`` (its predictions file); a previous document
whose checksum does not match (edited, damaged, or written by a version without one) is not re-used, and an
evaluation whose predictions file does not match is computed again. Both are said in ``notes`` (the run's warnings).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

from ..errors import OutputError
from ..io import atomic_write_json, sha256_file
from .schema import upgrade_document, validate_results

RESULTS_FILE = "results.json"
#: where ``--force`` computes (inside --out) before it replaces the previous results
FORCE_STAGING = ".force-staging"
#: settings that must be equal for previous evaluations to be re-used (corruptions: matched per evaluation)
REUSE_SETTINGS = ("flip", "limit", "limit_per_group", "backend", "amp")


def safe_name(name: str) -> str:
    """A model name as a file-name part (anything but letters, digits and ``-_.`` becomes ``_``)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


@contextlib.contextmanager
def writing(path: str | Path, out: Path, kept: Path | None = None) -> Iterator[None]:
    """Turn an OSError while writing ``path`` (full disk, quota, read-only mount) into an OutputError.

    ``kept``: the file of the previous run that stays as it was (``--force`` computes into a staging folder).
    """
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        what = (f"the previous {kept} and everything else of the previous run are unchanged (--force computes into "
                f"{Path(path).parent} and replaces them only when it finished)" if kept is not None else
                f"finished work in {out} is kept and the previous file at that path is unchanged")
        raise OutputError(f"cannot write {path} ({reason}); free disk space or pass --out to a writable folder with "
                          f"room, then re-run: {what}") from None


CHECKSUM_KEY = "_checksum"
EVALUATION_KINDS = ("evaluations", "root_evaluations", "corruption_evaluations")


def document_checksum(doc: dict) -> str:
    """sha256 of a results document without its ``_checksum`` (canonical JSON: sorted keys)."""
    body = {k: v for k, v in doc.items() if k != CHECKSUM_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


def same_settings(a: dict, b: dict) -> bool:
    """Settings under which previous evaluations may be re-used. A dataset counts by its name and kind, not its
    path: each evaluation is re-used only for the same data content (its ``data`` fingerprint)."""
    def kind(st: dict) -> dict:
        return {d.get("name"): (d.get("synthetic"), d.get("synthetic_meta")) for d in st.get("datasets") or []}

    return all(a.get(k) == b.get(k) for k in REUSE_SETTINGS) and kind(a) == kind(b)


class ResultsStore:
    """The results of one run folder. ``out`` is where this run writes (the staging folder under ``--force``),
    ``final_out`` the ``--out`` folder; ``document`` the results.json being built."""

    def __init__(self, final_out: Path, *, force: bool, document: dict, write_enabled: bool = True):
        self.final_out = Path(final_out)
        self.force = bool(force)
        self.out = self.final_out / FORCE_STAGING if force else self.final_out
        self.document = document
        self.write_enabled = write_enabled
        self.previous: dict | None = None
        self.reusable = False
        self.notes: list[str] = []  # what could not be re-used because it failed its check (the run's warnings)
        self._hashed: dict[tuple, str] = {}  # (path, size, mtime_ns) -> sha256: a file is hashed once per run

    # --- names
    @property
    def path(self) -> Path:
        return self.out / RESULTS_FILE

    @staticmethod
    def predictions_name(model: str, dataset: str, split: str, root: str,
                         corruption: tuple[str, int] | None = None) -> str:
        """Relative path of an evaluation's predictions file (``root``: the root source, or the box source of
        a RootNet evaluation; ``corruption``: (name, severity) of a corrupted evaluation)."""
        stem = f"{safe_name(model)}__{safe_name(dataset)}__{safe_name(split)}__{root}"
        if corruption is None:
            return f"predictions/{stem}.npz"
        return f"predictions/corrupted/{stem}__{corruption[0]}__s{int(corruption[1])}.npz"

    def partial_dir(self, model: str, dataset: str, split: str, part: str) -> Path:
        """Resume chunks of one split of one model (``part``: box source and flip, or corruption and severity)."""
        return self.out / "partial" / f"{safe_name(model)}__{safe_name(dataset)}__{safe_name(split)}__{part}"

    def drop_partials(self, model: str) -> None:
        """Resume chunks of a model are not needed once its predictions files exist (the ``partial`` folder goes
        with the last of them)."""
        for p in (self.out / "partial").glob(f"{safe_name(model)}__*"):
            shutil.rmtree(p, ignore_errors=True)
        try:
            (self.out / "partial").rmdir()
        except OSError:  # absent, or still holding another model's chunks
            pass

    @property
    def kept(self) -> Path | None:
        """The previous run's results.json that stays untouched while ``--force`` computes (else None)."""
        return self.final_out / RESULTS_FILE if self.force else None

    def writing(self, path: Path):
        return writing(path, self.final_out, kept=self.kept)

    # --- the previous run
    def load_previous(self) -> dict | None:
        """The previous results.json of ``out`` without evaluations whose predictions file is gone (None with
        ``--force``, or when there is none or it cannot be read)."""
        path = self.out / RESULTS_FILE
        if self.force or not path.exists():
            return None
        try:
            raw = json.loads(path.read_text())
            recorded = raw.get(CHECKSUM_KEY) if isinstance(raw, dict) else None
            if recorded != document_checksum(raw):
                self.notes.append(f"the previous {path} does not match its checksum ("
                                  + ("edited or damaged" if recorded else "written without one")
                                  + "): nothing of it is re-used, everything is computed again")
                return None
            previous = upgrade_document(raw)
        except (OSError, json.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.notes.append(f"the previous {path} cannot be read ({type(exc).__name__}): nothing of it is re-used")
            return None
        for kind in EVALUATION_KINDS:
            evs = previous.get(kind)
            if isinstance(evs, list):
                previous[kind] = [ev for ev in evs if isinstance(ev, dict) and isinstance(ev.get("predictions"), str)
                                  and (self.out / ev["predictions"]).exists()]
        return previous

    def adopt_previous(self, previous: dict | None) -> bool:
        """Keep ``previous`` for re-use if its settings match this run's; True if they do."""
        self.previous = previous
        self.reusable = previous is not None and same_settings(previous.get("settings", {}),
                                                               self.document["settings"])
        return self.reusable

    def previous_model(self, name: str) -> dict | None:
        """The previous run's ``models[name]`` when its settings allow re-use."""
        if not self.reusable:
            return None
        return self.previous.get("models", {}).get(name)

    def previous_evaluation(self, kind: str, name: str, identity: dict, dataset: str, split: str, root: str,
                            corruption: tuple[str, int] | None = None) -> dict | None:
        """The previous ``kind`` entry (evaluations | root_evaluations | corruption_evaluations) of the same model
        identity, dataset, split, root (and corruption), or None. Whether its data is still the same is the
        caller's decision (its ``data`` fingerprint)."""
        prev = self.previous_model(name)
        if prev is None or prev.get("_identity") != identity:
            return None
        for ev in self.previous.get(kind, []):
            if (ev["model"], ev.get("dataset"), ev.get("split"), ev.get("root")) != (name, dataset, split, root):
                continue
            if corruption is None or (ev.get("corruption"), ev.get("severity")) == (corruption[0], int(corruption[1])):
                return ev
        return None

    def check_predictions(self, ev: dict) -> str | None:
        """Why a previous evaluation's predictions file cannot be re-used (None: it matches its sha256)."""
        path = self.out / ev["predictions"]
        recorded = ev.get("predictions_sha256")
        if not recorded:
            return f"{path} has no recorded sha256 (written by an older version)"
        try:
            st = path.stat()
            key = (str(path), st.st_size, st.st_mtime_ns)
            actual = self._hashed.get(key) or self._hashed.setdefault(key, sha256_file(path))
        except OSError as exc:
            return f"{path} cannot be read ({exc.strerror or exc})"
        return None if actual == recorded else f"{path} does not match the sha256 recorded with it (changed or damaged)"

    # --- writing
    def seal(self) -> None:
        """Record the sha256 of every evaluation's predictions file that has none yet (written by this run)."""
        for kind in EVALUATION_KINDS:
            for ev in self.document.get(kind) or []:
                if "predictions_sha256" not in ev and isinstance(ev.get("predictions"), str):
                    path = self.out / ev["predictions"]
                    if path.exists():
                        ev["predictions_sha256"] = sha256_file(path)

    def write(self) -> None:
        """Validate the document and replace results.json atomically (rank 0 only), with its checksum."""
        validate_results(self.document)
        if self.write_enabled:
            self.seal()
            with self.writing(self.path):
                atomic_write_json(self.path, {**self.document, CHECKSUM_KEY: document_checksum(self.document)})

    def swap_in(self, log: Callable[[str], None]) -> None:
        """``--force``: replace the previous run in ``final_out`` by the complete one computed in ``out``.

        ``predictions/`` is swapped by two renames and ``results.json`` by an atomic replace, after which the old
        predictions and the previous run's resume chunks are deleted; nothing old is removed before the new
        state is complete and in place.
        """
        stage, out = self.out, self.final_out
        old = out / f".predictions.old-{os.getpid()}"
        with writing(out / RESULTS_FILE, out, kept=out / RESULTS_FILE):
            if (stage / "predictions").is_dir():
                if (out / "predictions").exists():
                    os.replace(out / "predictions", old)
                os.replace(stage / "predictions", out / "predictions")
            os.replace(stage / RESULTS_FILE, out / RESULTS_FILE)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(out / "partial", ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)
        log(f"--force: the recomputed results replace the previous ones in {out}")
        self.out = out


__all__ = ["CHECKSUM_KEY", "FORCE_STAGING", "RESULTS_FILE", "ResultsStore", "document_checksum", "same_settings",
           "safe_name", "writing"]
