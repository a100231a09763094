"""The authors' released weights and data files: registry, download/cache, verification.

``fetch(name)`` -> verified local path; ``resolve_pretrained('convnextpose-s:pretrained')`` ->
(path, entry) for model specs; ``verify(name_or_path)`` -> report dict. Files live in
``$POSE3DBENCH_CACHE/weights/<entry>/`` with sha256 pinned in ``weights.lock.json``.
"""
from .cache import entry_dir, lock_path, weights_dir
from .download import cached_path, fetch, gdrive_download, http_download, status
from ..errors import DownloadError, IntegrityError, WeightsError
from .registry import NO_OFFICIAL_WEIGHTS, Entry, Source, entries, get_entry, register, unregister
from .verify import resolve_pretrained, verify

__all__ = [
    "DownloadError", "Entry", "IntegrityError", "NO_OFFICIAL_WEIGHTS", "Source", "WeightsError",
    "cached_path", "entries", "entry_dir", "fetch", "gdrive_download", "get_entry", "http_download",
    "lock_path", "register", "resolve_pretrained", "status", "unregister", "verify", "weights_dir",
]
