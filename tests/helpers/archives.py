"""model.tar.gz archives built in memory, for tests and the client benchmark."""

from __future__ import annotations

import io
import tarfile


def gzip_tar(members: dict[str, bytes], link: tuple[str, str] | None = None) -> bytes:
    """A gzipped tar of `members` (name -> bytes), plus a symbolic link `(name, target)`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type = tarfile.SYMTYPE
            info.linkname = link[1]
            tar.addfile(info)
    return buffer.getvalue()
