"""Build contexts for step images: which files go in, and the content hash that tags them.

The user's code root is filtered by its `.dockerignore` (Docker's own matcher from the
docker SDK) and by rules no `.dockerignore` can lift: `.zen/` (the stack registry and
local stores), VCS and virtualenv folders, and files that usually hold credentials.
The same file list feeds the tar sent to Docker and the hash, so an unchanged
pipeline gets the same tag and its image (and KFP's cache) is reused.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zenml_kf.exceptions import ImageBuildError

# Never in an image, whatever .dockerignore says (Docker pattern syntax).
ALWAYS_EXCLUDED = (
    ".zen",
    "**/.zen",
    ".git",
    "**/.git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "**/__pycache__",
    "**/*.pyc",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".dockerignore",
    # editors' and tools' temporary files, which come and go while a build reads the tree
    "**/*.tmp",
    "**/*.swp",
    "**/.#*",
    "**/*~",
    # credentials
    "**/.env",
    "**/.env.*",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/id_rsa*",
    "**/id_ed25519*",
    "**/id_ecdsa*",
    "**/.ssh",
    "**/.aws",
    "**/.gcp",
    "**/.kube",
    "**/.docker",
    "**/.netrc",
    "**/.pypirc",
    "**/.git-credentials",
    "**/*credentials*.json",
    "**/*service-account*.json",
    "**/secrets.yaml",
    "**/secrets.yml",
    "**/secrets.json",
    "**/secrets.toml",
    "**/secrets.env",
    "**/*.secret",
)
HASH_VERSION = "zenml-kf-image-1"


@dataclass
class BuildContext:
    """Files for one `docker build`, by their path inside the context."""

    files: dict[str, Path] = field(default_factory=dict)
    texts: dict[str, bytes] = field(default_factory=dict)

    def add_file(self, arcname: str, path: Path) -> None:
        self.files[arcname] = path

    def add_text(self, arcname: str, content: str | bytes) -> None:
        self.texts[arcname] = content.encode() if isinstance(content, str) else content

    def add_tree(self, prefix: str, root: Path, relative_paths: Iterable[str]) -> None:
        for rel in relative_paths:
            self.files[f"{prefix}/{rel}"] = root / rel

    def digest(self, *extra: str) -> str:
        """sha256 over every path, its executable bit and its bytes, plus `extra` facts."""
        sha = hashlib.sha256(HASH_VERSION.encode())
        for item in extra:
            sha.update(b"\0x" + item.encode())
        entries = {
            **{k: ("f", v) for k, v in self.files.items()},
            **{k: ("t", v) for k, v in self.texts.items()},
        }
        for arcname in sorted(entries):
            kind, value = entries[arcname]
            sha.update(b"\0p" + arcname.encode())
            if kind == "f":
                assert isinstance(value, Path)
                sha.update(b"x" if os.access(value, os.X_OK) else b"-")
                sha.update(_file_sha(value))
            else:
                assert isinstance(value, bytes)
                sha.update(hashlib.sha256(value).digest())
        return sha.hexdigest()

    def tar(self) -> io.BytesIO:
        """The context as an uncompressed tar with fixed owners and times (reproducible)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for arcname in sorted(self.files):
                path = self.files[arcname]
                info = tar.gettarinfo(str(path), arcname)
                _normalize(info)
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            for arcname in sorted(self.texts):
                data = self.texts[arcname]
                info = tarfile.TarInfo(arcname)
                info.size = len(data)
                info.mode = 0o644
                _normalize(info)
                tar.addfile(info, io.BytesIO(data))
        buffer.seek(0)
        return buffer


def code_files(root: Path, exclude: Iterable[Path] = ()) -> list[str]:
    """Files under `root` that belong in the image, as sorted POSIX paths relative to it."""
    try:
        from docker.utils.build import exclude_paths  # Docker's own .dockerignore matcher
    except ImportError:
        raise ImageBuildError("the docker SDK is not installed; pip install docker") from None

    root = root.resolve()
    if not root.is_dir():
        raise ImageBuildError(f"code root '{root}' is not a directory; pass the folder of your project")
    patterns = list(_dockerignore(root)) + list(ALWAYS_EXCLUDED)
    for path in exclude:
        resolved = Path(path).resolve()
        if resolved.is_relative_to(root):
            patterns.append(resolved.relative_to(root).as_posix())
    included = exclude_paths(str(root), patterns)
    files = []
    for rel in included:
        full = root / rel
        if rel == ".dockerignore":
            continue  # docker-py always keeps it; the image does not need it
        if full.is_file() and not full.is_symlink() and not _is_compiled_pipeline(full):
            files.append(Path(rel).as_posix())
    return sorted(files)


# The first line kfp's compiler writes into every pipeline YAML.
_KFP_HEADER = b"# PIPELINE DEFINITION"


def _is_compiled_pipeline(path: Path) -> bool:
    """A KFP YAML `zenml compile` wrote into the project: an output, not step code.

    Left out wherever it lies, so `zenml compile` and `zenml image build` hash the same
    files, and compiling (which names the image tag in the YAML) never changes the tag.
    """
    if path.suffix not in (".yaml", ".yml"):
        return False
    with open(path, "rb") as handle:
        return handle.read(len(_KFP_HEADER)) == _KFP_HEADER


def _dockerignore(root: Path) -> list[str]:
    path = root / ".dockerignore"
    if not path.is_file():
        return []
    patterns = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


# Within one process a file is hashed once while it stays the same size and age: the
# base and step tags (and the key of a known project) all read the wheelhouse and SDK.
_HASHED: dict[tuple[str, int, int, int], bytes] = {}


def _file_sha(path: Path) -> bytes:
    stat = os.stat(path)
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    found = _HASHED.get(key)
    if found is None:
        found = _HASHED[key] = _read_sha(path)
    return found


def _read_sha(path: Path) -> bytes:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.digest()


def _normalize(info: tarfile.TarInfo) -> None:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    if info.isfile():
        info.mode = 0o755 if info.mode & 0o111 else 0o644
