"""scripts/setup_docker.sh takes the Debian mirror and proxy apt is configured with, so the
base image builds behind a private mirror or a proxy without naming a host in the project."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "setup_docker.sh"


def _apt_config(tmp_path: Path, sources: dict[str, str], proxy: str | None = None) -> Path:
    """An APT_CONFIG whose sources files are only `sources` (name -> text)."""
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    for name, text in sources.items():
        (parts / name).write_text(text)
    lines = [
        f'Dir::Etc::SourceList "{tmp_path / "absent.list"}";',
        f'Dir::Etc::SourceParts "{parts}";',
    ]
    if proxy is not None:
        lines.append(f'Acquire::http::Proxy "{proxy}";')
    config = tmp_path / "apt.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


def _print_mirror(config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in {"http_proxy", "ZENML_KF_DEBIAN_MIRROR"}}
    environ.update(APT_CONFIG=str(config), **env)
    return subprocess.run(
        ["bash", str(SCRIPT), "--print-mirror"], env=environ, capture_output=True, text=True, timeout=60
    )


def test_takes_the_deb822_mirror_and_apt_proxy(tmp_path: Path) -> None:
    config = _apt_config(
        tmp_path,
        {
            "other.sources": "Types: deb\nURIs: http://tools.internal.test/apt\nSuites: stable\n"
            "Components: main\n",
            "debian.sources": "Types: deb\nURIs: http://mirror.internal.test/debian\n"
            "Suites: bookworm bookworm-updates\nComponents: main contrib\n",
        },
        proxy="http://proxy.internal.test:3128",
    )
    result = _print_mirror(config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "MIRROR=http://mirror.internal.test/debian",
        "HTTP_PROXY=http://proxy.internal.test:3128",
    ]


def test_takes_a_one_line_source_and_keeps_the_callers_proxy(tmp_path: Path) -> None:
    config = _apt_config(
        tmp_path, {"mirror.list": "deb [trusted=yes] http://private.internal.test/debian bookworm main\n"}
    )
    result = _print_mirror(config, http_proxy="http://own.internal.test:8080")
    assert result.returncode == 0, result.stderr
    assert "MIRROR=http://private.internal.test/debian" in result.stdout
    assert "HTTP_PROXY=http://own.internal.test:8080" in result.stdout


def test_the_variable_overrides_and_no_source_is_one_line(tmp_path: Path) -> None:
    config = _apt_config(tmp_path, {"ubuntu.list": "deb http://ubuntu.internal.test/ubuntu jammy main\n"})
    missing = _print_mirror(config)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [
        "setup_docker: no apt source for Debian bookworm on this machine; "
        "set ZENML_KF_DEBIAN_MIRROR to a Debian mirror URL"
    ]
    chosen = _print_mirror(config, ZENML_KF_DEBIAN_MIRROR="http://chosen.internal.test/debian")
    assert chosen.returncode == 0, chosen.stderr
    assert "MIRROR=http://chosen.internal.test/debian" in chosen.stdout


def test_names_no_mirror_host() -> None:
    assert "debian.org" not in SCRIPT.read_text()
