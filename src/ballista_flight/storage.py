"""Files the scheduler itself touches: publishing a write's files, removing temporaries.

Executors write through DataFusion's object stores; the scheduler only lists,
moves and deletes, through pyarrow's filesystems (local paths and S3), once a
write job's tasks are done.
"""

from __future__ import annotations

import logging
import posixpath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from pyarrow import fs as pafs

from ballista_flight.errors import BallistaFlightError
from ballista_flight.plan.writes import published_path

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("ballista_flight.storage")


class StorageError(BallistaFlightError):
    """Files could not be listed, moved or removed."""


class Storage:
    """Lists, moves and deletes files under ``file://`` and ``s3://`` URLs."""

    def __init__(self, s3: Callable[[], pafs.FileSystem] | None = None) -> None:
        self._local = pafs.LocalFileSystem()
        self._make_s3 = s3 or pafs.S3FileSystem
        self._s3: pafs.FileSystem | None = None

    def locate(self, url: str) -> tuple[pafs.FileSystem, str]:
        """The filesystem holding ``url`` and the path inside it."""
        parsed = urlparse(url)
        if parsed.scheme in ("", "file"):
            return self._local, unquote(parsed.path)
        if parsed.scheme in ("s3", "s3a"):
            if self._s3 is None:  # built on first use: it starts the AWS SDK
                self._s3 = self._make_s3()
            return self._s3, f"{parsed.netloc}{unquote(parsed.path)}"
        msg = f"cannot write to {url}: only local paths and s3:// are supported"
        raise StorageError(msg)

    def files(self, url: str) -> list[str]:
        """Paths of the files under ``url`` (relative to it), recursively."""
        fs, root = self.locate(url)
        root = root.rstrip("/")
        selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
        infos = fs.get_file_info(selector)
        return sorted(posixpath.relpath(i.path, root) for i in infos if i.type == pafs.FileType.File)

    def publish(self, written: list[str], target: str, *, single_file: bool) -> int:
        """Move every file of the ``written`` task directories into ``target``; the count moved."""
        moved = 0
        try:
            for directory in written:
                fs, root = self.locate(directory)
                name = posixpath.basename(root.rstrip("/"))
                for relative in self.files(directory):
                    _, dest = self.locate(published_path(relative, name, target, single_file))
                    if isinstance(fs, pafs.LocalFileSystem):  # object stores have no directories
                        fs.create_dir(posixpath.dirname(dest), recursive=True)
                    fs.move(f"{root.rstrip('/')}/{relative}", dest)
                    moved += 1
        except OSError as exc:
            msg = f"could not publish the written files into {target}: {exc}"
            raise StorageError(msg) from exc
        return moved

    def remove(self, url: str) -> None:
        """Delete the directory ``url`` and everything under it, if it exists (best effort)."""
        try:
            fs, path = self.locate(url)
            if fs.get_file_info(path.rstrip("/")).type != pafs.FileType.NotFound:
                fs.delete_dir(path.rstrip("/"))
        except (OSError, StorageError) as exc:
            log.warning("could not remove %s: %s", url, exc)
