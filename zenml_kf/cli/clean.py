"""`zenml clean`: remove what killed runs left behind on the active stack.

A run killed with SIGKILL cannot clean up: it leaves `.<output>.partial-*` staging folders
in a local artifact store, `zenml-kf-out-*`/`zenml-kf-in-*` folders in the temp dir,
objects without a completion marker in a bucket and, on S3, unfinished multipart uploads
whose parts are billed. A leftover of a run recorded by the local orchestrator is removed
once the run is no longer running with a living process (runs of killed processes are
marked failed first); one whose run is unknown, once nothing touched it for the grace
period (`--older-than`). Runs still running (on this host with a living process, on
another host, or KFP's) keep their leftovers; a bucket folder recorded in MLMD is never
removed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zenml_kf.cli.output import echo

if TYPE_CHECKING:
    from zenml_kf.artifact_stores._remote import RemoteArtifactStore

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PARTIAL = re.compile(r"^\..+\.partial-[0-9a-f]+$")
_TEMP_PREFIXES = ("zenml-kf-out-", "zenml-kf-in-")


def parse_duration(text: str) -> float:
    """Seconds from '3600', '90s', '30m', '1h' or '2d'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if match is None:
        raise typer.BadParameter(f"'{text}' is no duration; give seconds or e.g. 90s, 30m, 1h, 2d")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class Found:
    """Leftovers of one kind: what they are and how many bytes they hold."""

    label: str
    items: list[str] = field(default_factory=list)
    size: int = 0
    note: str = ""

    def add(self, item: str, size: int) -> None:
        self.items.append(item)
        self.size += size


def _tree(path: Path) -> tuple[int, float]:
    """Bytes in a folder and the newest modification time of anything in it."""
    size, newest = 0, path.stat().st_mtime
    for dirpath, _, files in os.walk(path):
        newest = max(newest, os.stat(dirpath).st_mtime)
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            size += st.st_size
            newest = max(newest, st.st_mtime)
    return size, newest


def _stale(run_id: str, newest: float, live: dict[str, bool], grace: float, now: float) -> bool:
    """A leftover may go: its run is known and over, or unknown and untouched for `grace`."""
    state = live.get(run_id)
    if state is not None:
        return not state
    return now - newest >= grace


def _local_partials(root: Path, live: dict[str, bool], grace: float, now: float) -> Found:
    found = Found(f"partial artifact folders in {root}")
    if not root.is_dir():
        return found
    for path in sorted(root.glob("*/*/*/.*.partial-*")):  # <pipeline>/<run>/<step>/.<output>.partial-x
        if not path.is_dir() or not _PARTIAL.match(path.name):
            continue
        size, newest = _tree(path)
        if _stale(path.parts[-3], newest, live, grace, now):
            found.add(str(path), size)
    return found


def _open_paths() -> set[str]:
    """Files and working folders that processes of this machine hold open (Linux)."""
    held: set[str] = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return held
    for pid in (p for p in proc.iterdir() if p.name.isdigit()):
        try:
            links = [pid / "cwd", *(pid / "fd").iterdir()]
        except OSError:
            continue
        for link in links:
            try:
                held.add(os.readlink(link))
            except OSError:
                continue
    return held


def _temp_folders(grace: float, now: float) -> Found:
    tmp = Path(tempfile.gettempdir())
    found = Found(f"staging folders in {tmp}")
    candidates = sorted(p for p in tmp.glob("zenml-kf-*") if p.name.startswith(_TEMP_PREFIXES) and p.is_dir())
    if not candidates:
        return found
    held = _open_paths()
    for path in candidates:
        size, newest = _tree(path)
        inside = str(path) + os.sep
        if now - newest < grace or any(h == str(path) or h.startswith(inside) for h in held):
            continue
        found.add(str(path), size)
    return found


def _bucket_leftovers(
    store: RemoteArtifactStore, live: dict[str, bool], recorded: Any, grace: float, now: float
) -> tuple[Found, dict[str, list[str]]]:
    """Artifact folders without a marker; returns them and their keys by folder."""
    from zenml_kf.artifact_stores.manifest import LEGACY_MARKER, MARKER

    found = Found(f"unmarked artifact folders in {store.root_uri}")
    skip = len(store.prefix.split("/")) if store.prefix else 0
    folders: dict[str, list[tuple[str, int, float]]] = {}
    for key, size, modified in store.list_objects():
        parts = key.split("/")[skip:]
        if len(parts) < 5:  # <pipeline>/<run>/<step>/<output>/<file...>
            continue
        folder = "/".join(key.split("/")[: skip + 4])
        folders.setdefault(folder, []).append((key, size, modified))
    keys: dict[str, list[str]] = {}
    for folder, objects in sorted(folders.items()):
        names = {k[len(folder) + 1 :] for k, _, _ in objects}
        if MARKER in names or LEGACY_MARKER in names:
            continue
        run_id = folder.split("/")[skip + 1]
        newest = max(m for _, _, m in objects)
        uri = f"{store.root_uri.split('://')[0]}://{store.bucket_name}/{folder}"
        if not _stale(run_id, newest, live, grace, now) or recorded(uri):
            continue
        found.add(uri, sum(s for _, s, _ in objects))
        keys[uri] = [k for k, _, _ in objects]
    return found, keys


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def clean(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would be removed.")] = False,
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Clean this stack instead of the active one.")
    ] = None,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Grace period for leftovers of unknown runs and temp folders: seconds or 30m, 1h, 2d.",
        ),
    ] = "1h",
) -> None:
    """Remove what killed runs left behind.

    That is partial artifacts, staging folders and unfinished uploads.

    Runs whose process is gone are marked failed first. Leftovers of a run that no longer
    runs go at once; others once untouched for --older-than.
    """
    from zenml_kf.artifact_stores._remote import RemoteArtifactStore
    from zenml_kf.metadata.stale_runs import live_runs, reap_stale_runs
    from zenml_kf.repository import Repository

    grace = parse_duration(older_than)
    resolved = Repository().get_stack(stack)
    mlmd = resolved.metadata_store.store
    reaped = reap_stale_runs(mlmd)
    live = live_runs(mlmd)
    now = time.time()
    store = resolved.artifact_store
    kinds: list[Found] = []
    if isinstance(store, RemoteArtifactStore):

        def recorded(uri: str) -> bool:
            return bool(mlmd.get_artifacts_by_uri(uri))

        folders, keys = _bucket_leftovers(store, live, recorded, grace, now)
        uploads = Found(f"unfinished uploads in {store.root_uri}")
        pending = []
        for key, upload_id, started, size in store.stale_uploads():
            rel = key[len(store.prefix) + 1 :] if store.prefix else key
            run_id = rel.split("/")[1] if rel.count("/") >= 1 else ""
            if _stale(run_id, started, live, grace, now):
                uploads.add(f"s3://{store.bucket_name}/{key}", size)
                pending.append((key, upload_id))
        if store.config.SCHEME == "gs":
            uploads.note = "GCS: resumable uploads leave no billed parts, nothing to abort"
        kinds += [folders, uploads]
        if not dry_run:
            for uri in folders.items:
                store.delete_objects(keys[uri])
            for key, upload_id in pending:
                store.abort_upload(key, upload_id)
    else:
        partials = _local_partials(Path(store.root_uri), live, grace, now)
        kinds.append(partials)
        if not dry_run:
            for item in partials.items:
                shutil.rmtree(item, ignore_errors=True)
    temps = _temp_folders(grace, now)
    kinds.append(temps)
    if not dry_run:
        for item in temps.items:
            shutil.rmtree(item, ignore_errors=True)

    if reaped:
        echo(f"Marked {len(reaped)} run(s) of killed processes failed: {', '.join(reaped)}")
    verb = "Would remove" if dry_run else "Removed"
    for kind in kinds:
        if kind.note and not kind.items:
            echo(f"  {kind.label}: none ({kind.note})")
            continue
        echo(f"  {kind.label}: {len(kind.items)} ({_human(kind.size)})")
        for item in kind.items:
            echo(f"    {item}")
    count = sum(len(k.items) for k in kinds)
    total = sum(k.size for k in kinds)
    echo(f"{verb} {count} leftover(s) of killed runs, {_human(total)} on stack '{resolved.name}'.")
