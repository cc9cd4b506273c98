"""benchmarks/debian_glibc.py without the network: the indexes it reads and how it fails.

Debian's mirror is stood in for by a function that serves bytes; the real download, unpack
and loader are exercised by test_ballista_apache's real-cluster test.
"""

from __future__ import annotations

import hashlib
import lzma
from pathlib import Path

import pytest

from benchmarks import debian_glibc

RELEASE = """Origin: Debian
Suite: stable
Codename: trixie
MD5Sum:
 2d47057a46b268c5f031facecf74b20a  9678380 main/binary-amd64/Packages.xz
SHA256:
 00aa  12 main/binary-arm64/Packages.xz
 {sha}  {size} main/binary-amd64/Packages.xz
"""

INDEX = """Package: libc6
Version: 2.41-12
Filename: pool/main/g/glibc/libc6_2.41-12_amd64.deb
SHA256: {libc6}

Package: libc6-dev
Version: 2.41-12
Filename: pool/main/g/glibc/libc6-dev_2.41-12_amd64.deb
SHA256: ffff

Package: libgcc-s1
Version: 14.2.0-19
Depends: gcc-14-base (= 14.2.0-19),
 libc6 (>= 2.35)
Filename: pool/main/g/gcc-14/libgcc-s1_14.2.0-19_amd64.deb
SHA256: {libgcc}

Package: libstdc++6
Version: 14.2.0-19
Filename: pool/main/g/gcc-14/libstdc++6_14.2.0-19_amd64.deb
SHA256: {libstdcxx}

Package: libc6
Version: 2.40-1
Filename: pool/main/g/glibc/libc6_2.40-1_amd64.deb
SHA256: 0000
"""


def test_release_entry_reads_the_sha256_section_only() -> None:
    release = RELEASE.format(sha="ab" * 32, size=9678380)
    assert debian_glibc.release_entry(release, "main/binary-amd64/Packages.xz") == ("ab" * 32, 9678380)
    with pytest.raises(debian_glibc.Unavailable, match=r"does not list main/binary-i386/Packages\.xz"):
        debian_glibc.release_entry(release, "main/binary-i386/Packages.xz")


def test_parse_packages_takes_the_first_stanza_of_each_name() -> None:
    index = INDEX.format(libc6="11", libgcc="22", libstdcxx="33")
    found = debian_glibc.parse_packages(index, debian_glibc.PACKAGES)
    assert found["libc6"] == debian_glibc.Package(
        "libc6", "2.41-12", "pool/main/g/glibc/libc6_2.41-12_amd64.deb", "11"
    )
    assert found["libgcc-s1"].version == "14.2.0-19"  # a folded Depends line does not confuse it
    assert found["libstdc++6"].sha256 == "33"
    with pytest.raises(debian_glibc.Unavailable, match="package index has no libstdc\\+\\+6"):
        debian_glibc.parse_packages(index.split("Package: libstdc++6")[0], debian_glibc.PACKAGES)


def test_an_ar_archive_is_read_member_by_member() -> None:
    def member(name: str, body: bytes) -> bytes:
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode()
        return header + body + (b"\n" if len(body) % 2 else b"")

    archive = b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("data.tar.xz", b"odd")
    assert debian_glibc.ar_members(archive) == {"debian-binary": b"2.0\n", "data.tar.xz": b"odd"}
    with pytest.raises(debian_glibc.Unavailable, match=r"not a \.deb"):
        debian_glibc.ar_members(b"PK\x03\x04")


def mirror(files: dict[str, bytes], calls: list[str]) -> debian_glibc.Fetch:
    def fetch(url: str) -> bytes:
        calls.append(url)
        path = url.removeprefix(debian_glibc.MIRROR + "/")
        if path not in files:
            raise OSError(f"404: {path}")
        return files[path]

    return fetch


def test_a_package_whose_checksum_differs_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    index = lzma.compress(INDEX.format(libc6="11", libgcc="22", libstdcxx="33").encode())
    files = {
        "dists/trixie/InRelease": RELEASE.format(
            sha=hashlib.sha256(index).hexdigest(), size=len(index)
        ).encode(),
        "dists/trixie/main/binary-amd64/Packages.xz": index,
        "pool/main/g/glibc/libc6_2.41-12_amd64.deb": b"!<arch>\nnot what the index says",
    }
    calls: list[str] = []
    root = tmp_path / "glibc"
    with pytest.raises(
        debian_glibc.Unavailable, match=r"libc6_2\.41-12_amd64\.deb: SHA-256 \w+ is not the index's 11"
    ):
        debian_glibc.ensure(root, mirror(files, calls), machine="x86_64")
    assert calls[0] == f"{debian_glibc.MIRROR}/dists/trixie/InRelease"
    assert not root.exists()


def test_a_tampered_index_is_refused(tmp_path: Path) -> None:
    files = {
        "dists/trixie/InRelease": RELEASE.format(sha="ab" * 32, size=3).encode(),
        "dists/trixie/main/binary-amd64/Packages.xz": lzma.compress(b"Package: libc6\n"),
    }
    with pytest.raises(debian_glibc.Unavailable, match=r"Packages.xz: SHA-256 \w+ is not the index's (ab)+$"):
        debian_glibc.ensure(tmp_path / "glibc", mirror(files, []), machine="x86_64")


def test_an_unreachable_mirror_and_an_unknown_machine_say_so(tmp_path: Path) -> None:
    with pytest.raises(
        debian_glibc.Unavailable,
        match=r"fetching Debian trixie's glibc from https://deb.debian.org/debian failed: 404",
    ):
        debian_glibc.ensure(tmp_path / "glibc", mirror({}, []), machine="x86_64")
    with pytest.raises(debian_glibc.Unavailable, match=r"no Debian glibc set up for riscv64 \(only x86_64\)"):
        debian_glibc.ensure(tmp_path / "glibc", mirror({}, []), machine="riscv64")


def test_a_fetched_runtime_is_reused_without_the_network(tmp_path: Path) -> None:
    root = tmp_path / "glibc"
    root.mkdir()
    (root / ".complete").write_text("Debian trixie: libc6 2.41-12\n")
    calls: list[str] = []
    prefix = debian_glibc.ensure(root, mirror({}, calls), machine="x86_64")
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    assert prefix == [str(libdir / "ld-linux-x86-64.so.2"), "--library-path", str(libdir)]
    assert calls == []


def test_libc_of_names_what_python_runs_on_and_says_why_it_cannot_start(tmp_path: Path) -> None:
    import os
    import sys

    assert debian_glibc.libc_of([], sys.executable) == os.confstr("CS_GNU_LIBC_VERSION")
    with pytest.raises(debian_glibc.Unavailable, match="Python does not start on Debian trixie's glibc"):
        debian_glibc.libc_of([str(tmp_path / "no-loader")], sys.executable)
