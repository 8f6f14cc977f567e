"""The completion marker of an artifact: `<uri>/~zenml-artifact.json`.

It lists every file of the artifact with its size and is written last, so a reader that
finds it knows the artifact is whole. Kept free of SDK imports: the bucket stores write it
after uploading, the local store writes it into the staging folder before renaming that
into place, and the container entrypoint writes it into each output folder before KFP's
launcher uploads the folder. The cache checks every listed file against it (size only:
a stat or a listing, never a read), so an artifact damaged after publishing is not reused.

The launcher uploads a folder in `os.ReadDir` order, sorted by name byte by byte
(`UploadBlob` in backend/src/v2/objectstore/object_store.go, KFP 2.5.0), so the marker's
name starts with `~`, which sorts after every ASCII name: uploaded last there too. A
materializer may not write a top-level name that sorts after it. Artifacts published
under the marker's first name, `.zenml-artifact.json`, are still read.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from zenml_kf.exceptions import ZenMLKFError

MARKER = "~zenml-artifact.json"
LEGACY_MARKER = ".zenml-artifact.json"
MANIFEST_FORMAT = 1


def staged_files(folder: Path, uri: str) -> dict[str, Path]:
    """The files a materializer wrote, by path relative to the artifact folder."""
    for entry in folder.iterdir():
        if entry.name.encode() >= MARKER.encode() or entry.name == LEGACY_MARKER:
            raise ZenMLKFError(
                f"a materializer wrote '{entry.name}' for '{uri}'; names from {MARKER} on (in byte "
                f"order) and {LEGACY_MARKER} are reserved for the completion marker, rename the file"
            )
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def manifest_bytes(files: dict[str, Path]) -> bytes:
    manifest = {"format": MANIFEST_FORMAT, "files": {rel: path.stat().st_size for rel, path in files.items()}}
    return json.dumps(manifest, sort_keys=True).encode()


def write_marker(folder: Path, uri: str) -> None:
    """Mark a fully written local output folder, for a launcher to upload with it.

    A marker left by an earlier attempt in the same folder is replaced, not listed.
    """
    (folder / MARKER).unlink(missing_ok=True)
    body = manifest_bytes(staged_files(folder, uri))
    (folder / MARKER).write_bytes(body)


def listed_files(raw: bytes) -> dict[str, int] | None:
    """The files a marker lists (relative path -> size), or None when it is not a valid marker.

    Invalid: not JSON, not this layout, or a path that is absolute or leaves the artifact.
    """
    try:
        manifest = json.loads(raw)
        files = {str(rel): int(size) for rel, size in manifest["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    for rel in files:
        pure = PurePosixPath(rel)
        if not rel or pure.is_absolute() or ".." in pure.parts:
            return None
    return files
