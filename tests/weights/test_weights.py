"""Released-weights registry: download, resume, integrity checks, lock file, CLI.

All network traffic goes to an http.server on 127.0.0.1 (or to a closed local port).
"""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import socket
import threading
import types
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from pose3dbench import cli
from pose3dbench.weights import (DownloadError, Entry, IntegrityError, Source, WeightsError, cache, download,
                                 entries, fetch, get_entry, register, resolve_pretrained, status, unregister)
from pose3dbench.specs import verify_weights as verify

H36M_REAL = Path(__file__).resolve().parents[1] / "fixtures" / "h36m-real" / "bbox_root"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        name = self.path.lstrip("/")
        if name not in srv.files:
            self._send(404, b"<html><body>not found</body></html>", "text/html")
            return
        body, mode = srv.files[name], srv.modes.get(name, "ok")
        if mode == "html":
            self._send(200, b"<!DOCTYPE html><html><title>Quota exceeded</title></html>", "text/html; charset=utf-8")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "no_range":
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
        if start >= len(body) and start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        chunk = body[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if mode == "drop_first" and not srv.dropped.get(name):
            srv.dropped[name] = True
            self.wfile.write(chunk[: len(chunk) // 3])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(chunk)

    def _send(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.modes, srv.dropped, srv.requests = {}, {}, {}, []
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE3DBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def ckpt_bytes() -> bytes:
    """A small torch checkpoint in the authors' layout (bytes)."""
    gen = torch.Generator().manual_seed(0)
    state = {"module.layer.weight": torch.randn(64, 64, generator=gen), "module.layer.bias": torch.zeros(64)}
    buf = io.BytesIO()
    torch.save({"network": state, "epoch": 3}, buf)
    return buf.getvalue()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _entry(name, url, **kw) -> Entry:
    kw.setdefault("variant", "testnet")
    return Entry(name=name, kind=kw.pop("kind", "checkpoint"), file_name=kw.pop("file_name", "snap.pth.tar"),
                 sources=(Source("url", url=url),), **kw)


def test_download_success_records_lock_and_reuses_cache(server, ckpt_bytes, tmp_cache):
    server.files["snap.pth.tar"] = ckpt_bytes
    entry = _entry("testnet:ok", server.url + "snap.pth.tar", size=len(ckpt_bytes))
    path = fetch(entry, progress=False)
    assert path == tmp_cache / "weights" / "testnet_ok" / "snap.pth.tar"
    assert path.read_bytes() == ckpt_bytes
    assert not cache.part_path(path).exists()
    lock = json.loads((tmp_cache / "weights" / "weights.lock.json").read_text())
    rec = lock["files"]["testnet:ok"]
    assert rec["sha256"] == hashlib.sha256(ckpt_bytes).hexdigest() and rec["size"] == len(ckpt_bytes)
    assert rec["source"] == server.url + "snap.pth.tar"
    n = len(server.requests)
    assert fetch(entry, progress=False) == path  # cached: verified, no new request
    assert len(server.requests) == n


def test_resume_after_dropped_connection(server, ckpt_bytes):
    server.files["snap.pth.tar"] = ckpt_bytes
    server.modes["snap.pth.tar"] = "drop_first"
    entry = _entry("testnet:resume", server.url + "snap.pth.tar")
    with pytest.raises(DownloadError, match="re-run to resume") as info:
        fetch(entry, progress=False, retries=0)
    part = cache.part_path(download.cached_path(entry))
    assert part.exists() and 0 < part.stat().st_size < len(ckpt_bytes)
    assert "snap.pth.tar" in str(info.value) and str(part.parent) in str(info.value)
    kept = part.stat().st_size
    path = fetch(entry, progress=False)
    assert path.read_bytes() == ckpt_bytes
    assert server.requests[-1][1] == f"bytes={kept}-"  # second request resumed with Range
    assert status(entry) == "cached"


def test_resume_within_one_call(server, ckpt_bytes):
    server.files["snap.pth.tar"] = ckpt_bytes
    server.modes["snap.pth.tar"] = "drop_first"
    path = fetch(_entry("testnet:auto", server.url + "snap.pth.tar", size=len(ckpt_bytes)), progress=False)
    assert path.read_bytes() == ckpt_bytes
    assert [r for _, r in server.requests] == [None, f"bytes={len(ckpt_bytes) // 3}-"]


def test_server_ignoring_range_restarts_from_zero(server, ckpt_bytes):
    server.files["snap.pth.tar"] = ckpt_bytes
    server.modes["snap.pth.tar"] = "no_range"
    entry = _entry("testnet:norange", server.url + "snap.pth.tar")
    part = cache.part_path(download.cached_path(entry))
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\x00" * 100)  # stale partial content that must not survive
    path = fetch(entry, progress=False)
    assert server.requests[-1][1] == "bytes=100-"
    assert path.read_bytes() == ckpt_bytes


def test_size_mismatch(server, ckpt_bytes):
    server.files["snap.pth.tar"] = ckpt_bytes
    entry = _entry("testnet:size", server.url + "snap.pth.tar", size=len(ckpt_bytes) + 7)
    with pytest.raises(DownloadError, match=f"serves {len(ckpt_bytes)} bytes but the registry expects"):
        fetch(entry, progress=False)
    assert status(entry) == "missing"


def test_checksum_mismatch(server, ckpt_bytes):
    server.files["snap.pth.tar"] = ckpt_bytes
    entry = _entry("testnet:sha", server.url + "snap.pth.tar", sha256="0" * 64)
    with pytest.raises(DownloadError, match="sha256 .* does not match the registry's 0000") as info:
        fetch(entry, progress=False)
    assert status(entry) == "missing"
    assert download.cached_path(entry).with_name("snap.pth.tar.rejected").exists()
    assert "testnet:sha" not in cache.read_lock()["files"]
    assert str(download.cached_path(entry).parent) in str(info.value)


def test_lock_detects_a_changed_file_and_relock(server, ckpt_bytes):
    server.files["snap.pth.tar"] = ckpt_bytes
    entry = _entry("testnet:lock", server.url + "snap.pth.tar")
    path = fetch(entry, progress=False)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="differs from the copy first verified"):
        fetch(entry, progress=False)
    report = verify(entry, load=False)
    assert not report["ok"] and report["lock"] == "mismatch"
    report = verify(entry, load=False, relock=True)
    assert report["ok"] and report["lock"] == "recorded"
    assert fetch(entry, progress=False) == path


@pytest.mark.parametrize("mode", ["content-type", "first-bytes"])
def test_html_page_instead_of_file(server, mode):
    page = b"  <!DOCTYPE html><html><body>Google Drive - Quota exceeded</body></html>"
    if mode == "content-type":
        server.files["snap.pth.tar"] = page
        server.modes["snap.pth.tar"] = "html"
    else:  # served as application/octet-stream: caught by the first bytes
        server.files["snap.pth.tar"] = page
    entry = _entry("testnet:html", server.url + "snap.pth.tar")
    with pytest.raises(DownloadError, match="HTML page"):
        fetch(entry, progress=False)
    assert status(entry) == "missing"
    assert not cache.part_path(download.cached_path(entry)).exists()


def test_offline_error_names_source_file_and_folder(tmp_cache):
    url = f"http://127.0.0.1:{_closed_port()}/weights/snap.pth.tar"
    entry = _entry("testnet:offline", url)
    with pytest.raises(DownloadError) as info:
        fetch(entry, progress=False, timeout=2)
    msg = str(info.value)
    assert url in msg and "cannot connect" in msg
    assert "snap.pth.tar" in msg
    assert str(tmp_cache / "weights" / "testnet_offline") in msg


def test_manually_placed_file_is_picked_up_and_verified(ckpt_bytes, tmp_cache):
    entry = _entry("testnet:manual", f"http://127.0.0.1:{_closed_port()}/x",
                   sha256=hashlib.sha256(ckpt_bytes).hexdigest())
    folder = tmp_cache / "weights" / "testnet_manual"
    folder.mkdir(parents=True)
    (folder / "snap.pth.tar").write_bytes(ckpt_bytes)
    assert fetch(entry, progress=False) == folder / "snap.pth.tar"
    assert cache.read_lock()["files"]["testnet:manual"]["source"].startswith("cache")
    (folder / "snap.pth.tar").write_bytes(b"<html>login</html>")
    with pytest.raises(IntegrityError, match="HTML page"):
        fetch(entry, progress=False)


def test_manual_only_entry():
    entry = Entry(name="testnet:manual-only", kind="checkpoint", file_name="w.pth", variant="testnet",
                  manual_only=True, instructions="ask the authors by e-mail")
    with pytest.raises(WeightsError, match="ask the authors by e-mail.*testnet_manual-only"):
        fetch(entry)


def test_gdrive_without_gdown(monkeypatch):
    monkeypatch.setattr(download, "_gdown", lambda: None)
    entry = Entry(name="testnet:gd", kind="checkpoint", file_name="w.tar", variant="testnet",
                  sources=(Source("gdrive_file", id="1ZHoXNFxBBsmis-5Xzu7dfXYGNxjpntgt"),),
                  instructions="download w.tar from the Drive folder")
    with pytest.raises(DownloadError, match="pip install gdown") as info:
        fetch(entry, progress=False)
    assert "https://drive.google.com/file/d/1ZHoXNFxBBsmis-5Xzu7dfXYGNxjpntgt/view" in str(info.value)
    assert "testnet_gd" in str(info.value)


def test_gdrive_folder_picks_file_by_name_and_path(monkeypatch, ckpt_bytes):
    listing = [types.SimpleNamespace(id="ID_A", path="Human3.6M/Subject 9,11 (x)/f.json", local_path=""),
               types.SimpleNamespace(id="ID_B", path="Human3.6M/Subject 11 (y)/f.json", local_path=""),
               types.SimpleNamespace(id="ID_C", path="MSCOCO/g.json", local_path="")]
    calls = []

    def fake_download(id, output, quiet, resume):
        calls.append(id)
        Path(output).write_bytes(ckpt_bytes if id == "ID_B" else b"wrong")
        return output

    fake = types.SimpleNamespace(download_folder=lambda id, skip_download, quiet: listing, download=fake_download)
    monkeypatch.setattr(download, "_gdown", lambda: fake)
    entry = Entry(name="testnet:folder", kind="data", file_name="f.json",
                  sources=(Source("gdrive_folder", id="FOLDERID", path_contains=("Subject 11",)),))
    assert fetch(entry, progress=False).read_bytes() == ckpt_bytes and calls == ["ID_B"]
    ambiguous = Entry(name="testnet:folder2", kind="data", file_name="f.json",
                      sources=(Source("gdrive_folder", id="FOLDERID"),))
    with pytest.raises(DownloadError, match="expected exactly one 'f.json'.*found 2"):
        fetch(ambiguous, progress=False)


def test_bbox_root_entry_hash_matches_real_file(server):
    """The registry's size/sha256 for the bbox_root files are those of the real files."""
    for protocol, fname in ((2, "bbox_root_human36m_output_protocol2_S9_S11.json"),
                            (1, "bbox_root_human36m_output_protocol1_S11.json")):
        real = get_entry(f"bbox-root:h36m-p{protocol}")
        server.files[fname] = (H36M_REAL / fname).read_bytes()
        local = Entry(name=f"test-bbox:p{protocol}", kind="data", file_name=real.file_name,
                      sources=(Source("url", url=server.url + fname),), size=real.size, sha256=real.sha256)
        path = fetch(local, progress=False)
        report = verify(local)
        assert report["ok"], report
        assert report["content"]["entries"] == {1: 3683, 2: 8695}[protocol]
        assert path.name == "bbox_root_human36m_output.json"


def test_builtin_registry_is_well_formed():
    all_entries = entries()
    assert len({e.name for e in all_entries}) == len(all_entries)
    drive_id = re.compile(r"^[A-Za-z0-9_-]{25,}$")
    for e in all_entries:
        assert e.sources or (e.manual_only and e.instructions), e.name
        assert e.page.startswith("https://"), e.name
        for s in e.sources:
            assert (s.kind == "url" and s.url.startswith("https://")) or drive_id.match(s.id), (e.name, s)
        if e.sha256:
            assert re.fullmatch(r"[0-9a-f]{64}", e.sha256) and e.size
    for variant in ("convnextpose-xs", "convnextpose-s", "convnextpose-m", "convnextpose-l",
                    "posenet-r50", "rootnet-r50", "integral-r50"):
        assert get_entry(f"{variant}:pretrained").variant == variant
    assert get_entry("convnextpose-l").overrides == {"upsample_layers": 2}
    with pytest.raises(WeightsError, match="no released weights.*onnx"):
        get_entry("mobilehumanpose-lpski:pretrained")
    with pytest.raises(WeightsError, match="unknown weights entry"):
        get_entry("nonet:foo")


def test_integral_sources_follow_the_current_readme_release_asset_first():
    """mks0601's README (9093008) links a GitHub release asset, earlier a Drive file, a Drive folder, cv.snu."""
    srcs = get_entry("integral-r50:h36m-p2").sources
    assert [s.kind for s in srcs] == ["url", "gdrive_file", "gdrive_folder", "url"]
    assert srcs[0].url.endswith("/releases/download/1.0/snapshot_16.pth.tar")
    assert srcs[1].id == "1SyTLKP_Y_PwitCixSj6pagPF2A4kLlCd" and "cv.snu.ac.kr" in srcs[3].url


def test_builtin_variants_and_overrides_exist_in_model_zoo():
    models = pytest.importorskip("pose3dbench.models")
    try:
        available = models.available()
    except ModuleNotFoundError as exc:
        pytest.skip(f"model families not all present yet: {exc}")
    for e in entries():
        if e.kind == "checkpoint":
            assert e.variant in available, e.name
            models.get_config(e.variant, **e.overrides)  # overrides are valid names


def test_resolve_pretrained(server, ckpt_bytes):
    server.files["snap.pth.tar"] = ckpt_bytes
    entry = register(_entry("testnet-x:h36m", server.url + "snap.pth.tar", variant="testnet-x", default=True))
    try:
        path, got = resolve_pretrained("testnet-x:pretrained", progress=False)
        assert got is entry and path.read_bytes() == ckpt_bytes
        assert resolve_pretrained("testnet-x", progress=False)[0] == path
    finally:
        unregister(entry.name)
    with pytest.raises(WeightsError, match="data file"):
        resolve_pretrained("bbox-root:h36m-p2")


def _cli(*argv) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(list(argv))
    return code, out.getvalue()


def test_cli_list_get_verify(server, ckpt_bytes, capsys):
    server.files["snap.pth.tar"] = ckpt_bytes
    entry = register(_entry("testnet:cli", server.url + "snap.pth.tar"))
    try:
        code, out = _cli("weights", "list", "--json")
        rows = {r["name"]: r for r in json.loads(out)["entries"]}
        assert code == 0 and set(rows) == {e.name for e in entries()}
        assert rows["testnet:cli"]["state"] == "missing"
        assert rows["convnextpose-s:h36m"]["sources"][0]["id"] == "12H7zkLvmJtrkCmAUAPkQ6788WAnO60gI"
        code, out = _cli("weights", "get", "testnet:cli", "--no-progress")
        assert code == 0 and out.strip() == str(download.cached_path(entry))
        code, out = _cli("weights", "list")
        line = next(ln for ln in out.splitlines() if ln.startswith("testnet:cli"))
        assert "cached" in line and line.split()[-1] == "snap.pth.tar"  # the file name; the path with --long
        assert "mobilehumanpose" in out and "--model" in out and "weights list --long" in out
        assert max(len(ln) for ln in out.splitlines()) <= 100, "weights list must fit 100 columns"
        code, out = _cli("weights", "list", "--long")
        line = next(ln for ln in out.splitlines() if ln.startswith("testnet:cli"))
        assert "cached" in line and str(download.cached_path(entry)) in line
        code, out = _cli("weights", "verify", "testnet:cli", "--no-load", "--json")
        assert code == 0 and json.loads(out)["lock"] == "match"
        code = cli.main(["weights", "get", "nonet:x"])
        assert code == 2 and "unknown weights entry" in capsys.readouterr().err
    finally:
        unregister(entry.name)


def test_verify_loads_checkpoint_as_its_variant(server, tmp_path):
    """A conformance-style checkpoint ({'network': {'module.' + k}}) verifies as its variant."""
    pytest.importorskip("pose3dbench.models.checkpoint")
    from pose3dbench import models

    try:
        if "mobilehumanpose-lpski" not in models.available():
            pytest.skip("mobilehumanpose-lpski not registered")
    except ModuleNotFoundError as exc:
        pytest.skip(f"model families not all present yet: {exc}")
    torch.manual_seed(0)
    state = models.create("mobilehumanpose-lpski").state_dict()
    buf = io.BytesIO()
    torch.save({"network": {"module." + k: v for k, v in state.items()}, "epoch": 24}, buf)
    server.files["lpski.pth.tar"] = buf.getvalue()
    good = _entry("mhp:test", server.url + "lpski.pth.tar", variant="mobilehumanpose-lpski")
    fetch(good, progress=False)
    report = verify(good)
    assert report["ok"], report
    assert report["content"]["joint_num"] == 18 and report["content"]["params"] > 1_000_000
    wrong = _entry("mhp:wrong", server.url + "lpski.pth.tar", variant="mobilehumanpose-lpski",
                   overrides={"joint_num": 21})
    fetch(wrong, progress=False)
    report = verify(wrong)
    assert not report["ok"] and report["problems"]


def test_builtin_convnextpose_entries_verify_their_layout(tmp_cache):
    """A file with each released layout verifies under its entry (M/L need upsample_layers=2);
    a mislabeled file (S weights saved as ConvNeXtPose_L.tar) is reported, naming what it is."""
    pytest.importorskip("pose3dbench.models.checkpoint")
    from pose3dbench import models

    torch.set_num_threads(1)
    torch.manual_seed(0)
    files = {}
    for name in ("convnextpose-s:h36m", "convnextpose-m:h36m"):
        entry = get_entry(name)
        state = models.create(entry.variant, **entry.overrides).state_dict()
        files[name] = {"network": {"module." + k: v for k, v in state.items()}, "epoch": 70}
        path = download.cached_path(entry)
        path.parent.mkdir(parents=True)
        torch.save(files[name], path)
        report = verify(entry)
        assert report["ok"], report
        assert report["content"]["heatmap_size"] == [32, 32]
        assert report["content"]["depth_bins"] == {"convnextpose-s:h36m": 32, "convnextpose-m:h36m": 64}[name]
    wrong = download.cached_path(get_entry("convnextpose-l:h36m"))
    wrong.parent.mkdir(parents=True)
    torch.save(files["convnextpose-s:h36m"], wrong)
    code, out = _cli("weights", "verify", "convnextpose-l:h36m")
    assert code == 1
    assert "not as convnextpose-l" in out and "head_width: expected 512, file gives 256" in out
    assert "convnextpose-s" in out and "FAILED" in out
    assert "convnextpose-l:h36m" not in cache.read_lock()["files"]  # a failing file is never pinned


def test_http_error_and_completed_part(server, ckpt_bytes):
    entry = _entry("testnet:404", server.url + "missing.pth.tar")
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(entry, progress=False)
    # A .part that is already complete (crash before the rename): the server answers 416 to the
    # range request and the file is finished without downloading it again.
    server.files["snap.pth.tar"] = ckpt_bytes
    for size in (len(ckpt_bytes), None):  # size known from the registry, or from Content-Range
        entry = _entry(f"testnet:416-{size}", server.url + "snap.pth.tar", size=size)
        part = cache.part_path(download.cached_path(entry))
        part.parent.mkdir(parents=True)
        part.write_bytes(ckpt_bytes)
        n = len(server.requests)
        assert fetch(entry, progress=False).read_bytes() == ckpt_bytes
        assert [r for _, r in server.requests[n:]] == [f"bytes={len(ckpt_bytes)}-"]
