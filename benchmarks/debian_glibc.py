"""A newer glibc from Debian's archive, in a private folder, for one program that needs it.

Apache Ballista's wheel is built for glibc 2.39 and these machines have 2.36 (Debian 12).
glibc is backward compatible: a program built on 2.36 runs on 2.41. So instead of skipping
Ballista, its processes start through Debian 13's dynamic loader with Debian 13's libc,
libgcc and libstdc++ ahead of the system's::

    <folder>/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path <that dir> python ...

Nothing is installed system-wide and no other process sees it. The three packages come over
HTTPS from deb.debian.org, each checked against the SHA-256 in the suite's package index,
whose own SHA-256 is taken from the suite's Release file. The ``.deb`` files (ar archives
holding ``data.tar.xz``) are unpacked here with the standard library, so no dpkg is needed.

Only the standard library is imported: this runs in the harness before anything else exists.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import platform
import shutil
import subprocess
import tarfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIRROR = "https://deb.debian.org/debian"
SUITE = "trixie"  # Debian 13: glibc 2.41, GCC 14's libstdc++ (GLIBCXX_3.4.33)
PACKAGES = ("libc6", "libgcc-s1", "libstdc++6")
# platform.machine() -> (Debian architecture, multiarch triplet, dynamic loader's name)
ARCHITECTURES = {"x86_64": ("amd64", "x86_64-linux-gnu", "ld-linux-x86-64.so.2")}
TIMEOUT_S = 120.0

Fetch = Callable[[str], bytes]


class Unavailable(Exception):
    """The runtime cannot be had here; the message says why in one line."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    filename: str  # path under the mirror, e.g. pool/main/g/glibc/libc6_2.41-12_amd64.deb
    sha256: str


def fetch_url(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        data: bytes = response.read()
        return data


def release_entry(release: str, path: str) -> tuple[str, int]:
    """(SHA-256, size) of ``path`` from a Release/InRelease file's ``SHA256:`` section."""
    in_section = False
    for line in release.splitlines():
        if not line.startswith(" "):
            in_section = line.strip() == "SHA256:"
            continue
        if in_section:
            fields = line.split()
            if len(fields) == 3 and fields[2] == path:
                return fields[0], int(fields[1])
    raise Unavailable(f"{SUITE}'s Release file does not list {path}")


def parse_packages(index: str, names: tuple[str, ...]) -> dict[str, Package]:
    """The stanzas of ``names`` in a Packages index (the first of each, as apt would list)."""
    found: dict[str, Package] = {}
    for stanza in index.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith(" "):
                fields[key] = value.strip()
        name = fields.get("Package", "")
        if name in names and name not in found and {"Version", "Filename", "SHA256"} <= fields.keys():
            found[name] = Package(name, fields["Version"], fields["Filename"], fields["SHA256"])
    missing = [name for name in names if name not in found]
    if missing:
        raise Unavailable(f"{SUITE}'s package index has no {', '.join(missing)}")
    return found


def ar_members(data: bytes) -> dict[str, bytes]:
    """The members of an ar archive (a ``.deb`` is one): a global header, then 60-byte headers."""
    if not data.startswith(b"!<arch>\n"):
        raise Unavailable("not a .deb (ar) archive")
    members: dict[str, bytes] = {}
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size % 2)  # members are 2-byte aligned
    return members


def unpack_deb(data: bytes, dest: Path, triplet: str) -> None:
    """Unpack the package's shared libraries (``usr/lib/<triplet>``, ``usr/lib64``) into ``dest``."""
    members = ar_members(data)
    payload = members.get("data.tar.xz")
    if payload is None:
        raise Unavailable(f"the .deb has no data.tar.xz (members: {', '.join(members)})")
    wanted = (f"./usr/lib/{triplet}/", "./usr/lib64/", f"usr/lib/{triplet}/", "usr/lib64/")
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(payload))) as tar:
        chosen = [m for m in tar.getmembers() if m.name.startswith(wanted)]
        tar.extractall(dest, members=chosen, filter="data")


def loader_command(root: Path, triplet: str, loader: str) -> list[str]:
    """The prefix that runs a program on this runtime's libraries (then the system's)."""
    libdir = root / "usr" / "lib" / triplet
    return [str(libdir / loader), "--library-path", str(libdir)]


def ensure(root: Path, fetch: Fetch = fetch_url, machine: str | None = None) -> list[str]:
    """Fetch and unpack the runtime once (a stamp names the packages); its loader prefix."""
    arch = ARCHITECTURES.get(machine or platform.machine())
    if arch is None:
        raise Unavailable(
            f"no Debian glibc set up for {machine or platform.machine()} (only {', '.join(ARCHITECTURES)})"
        )
    debian_arch, triplet, loader = arch
    stamp = root / ".complete"
    if stamp.exists():
        return loader_command(root, triplet, loader)
    shutil.rmtree(root, ignore_errors=True)
    index_path = f"main/binary-{debian_arch}/Packages.xz"
    try:
        release = fetch(f"{MIRROR}/dists/{SUITE}/InRelease").decode()
        index_sha, _ = release_entry(release, index_path)
        index_xz = fetch(f"{MIRROR}/dists/{SUITE}/{index_path}")
        _check(index_xz, index_sha, index_path)
        packages = parse_packages(lzma.decompress(index_xz).decode(errors="replace"), PACKAGES)
        staging = root.with_name(root.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for package in packages.values():
            deb = fetch(f"{MIRROR}/{package.filename}")
            _check(deb, package.sha256, package.filename)
            unpack_deb(deb, staging, triplet)
    except OSError as exc:  # urllib's URLError is one
        raise Unavailable(f"fetching Debian {SUITE}'s glibc from {MIRROR} failed: {exc}") from exc
    staging.rename(root)
    versions = ", ".join(f"{p.name} {p.version}" for p in packages.values())
    (root / ".complete").write_text(f"Debian {SUITE}: {versions}\n")
    return loader_command(root, triplet, loader)


def libc_of(prefix: list[str], python: str) -> str:
    """What the C library says it is to ``python`` run through ``prefix`` ("glibc 2.41")."""
    code = "import os; print(os.confstr('CS_GNU_LIBC_VERSION'))"
    try:
        done = subprocess.run([*prefix, python, "-c", code], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise Unavailable(f"Python does not start on Debian {SUITE}'s glibc: {exc}") from exc
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        raise Unavailable(
            f"Python does not start on Debian {SUITE}'s glibc: {last[-1] if last else done.returncode}"
        )
    return done.stdout.strip()


def _check(data: bytes, sha256: str, what: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise Unavailable(f"{what}: SHA-256 {actual} is not the index's {sha256}")
