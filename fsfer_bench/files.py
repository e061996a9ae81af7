"""Every file the harness writes goes through here: atomically, with the user's umask.

A writer puts the bytes in a hidden temporary file in the destination folder,
fsyncs it, gives it the mode an ordinary `open()` would have (0666 less the
umask: collaborators on a shared store can read it; `mkstemp` alone would make it
0600), and renames it over the destination. A crash, a kill or a full disk
leaves either the previous file or the new one, never a fragment, and never a
temporary file behind.

JSON is written strictly: NaN and infinities become `null` (with the reason left
to the caller's field names), so strict parsers read every record.

A full disk (or quota, or a file-size limit) while writing raises `DiskFullError`,
one line naming the file, which is both a `StoreError` (the CLI's exit 2) and an
`OSError` with its errno (so callers that go on without a cache still do); the
previous file at that path is kept whole.

Every file the harness reads back (records, episode sets, models, checkpoints,
failures, claims, caches, configs, `--weights`) is opened by `open_regular`: a
named pipe, a device or a link to `/dev/zero` in the store is refused with one
line naming the file before a byte is read (a pipe would block forever, a device
would be read until memory runs out), and so is a file larger than its kind
ever is. `read_json` is the one reader of JSON files the harness wrote: on damage
(or such a refusal) it raises `DamagedFileError` naming the file, so each caller
can rebuild, retrain or skip that kind of file instead of failing on every rerun.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from fsfer_bench.errors import FsferError, StoreError

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_ARRAY_BYTES",
    "DamagedFileError",
    "DiskFullError",
    "load_torch",
    "open_regular",
    "read_bounded",
    "read_json",
    "strict_json",
    "umask_mode",
    "probe_writable",
    "write_atomic",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
    "write_torch_atomic",
]


class DamagedFileError(FsferError):
    """A file the harness wrote earlier cannot be read back (truncated, garbled, wrong shape)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is damaged ({reason})")
        self.path, self.reason = Path(path), reason


class DiskFullError(StoreError, OSError):
    """A write that ran out of space; the file it would have replaced is kept as it was."""

    def __init__(self, path: Path, cause: OSError) -> None:
        OSError.__init__(self, cause.errno, cause.strerror, str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return (
            f"cannot write {self.path} ({self.strerror}); the previous file there is kept: "
            "free space (or raise the quota) and run again to go on"
        )


#: errnos of a write that failed for want of room, not for a fault of the file.
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
#: Bounds on what is read back: far above anything the harness writes (a record of 100k episodes is
#: under 10 MB; a ResNet-18 checkpoint with its optimiser under 200 MB), far below a machine's memory.
MAX_JSON_BYTES = 256 * 2**20
MAX_ARRAY_BYTES = 8 * 2**30
_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}  # fmt: skip


def file_kind(mode: int) -> str:
    """What a file of `os.stat` mode `mode` is, in words ("a named pipe (FIFO)", "a folder", ...)."""
    return _KINDS.get(stat.S_IFMT(mode), "a special file")


def umask_mode() -> int:
    """The mode `open(path, "w")` would give a new file: 0666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def probe_writable(folder: str | Path) -> None:
    """Create `folder` if needed and write and remove a scratch file there; OSError if that fails.

    Callers run it before any work, so a run never trains for an hour and then fails to save.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
    os.close(fd)
    os.unlink(probe)


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(f)` on a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _FULL and not isinstance(exc, DiskFullError):
            raise DiskFullError(path, exc) from exc
        raise
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def strict_json(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None, so `allow_nan=False` accepts it."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def dumps_strict(obj: Any, indent: int | None = 1) -> str:
    """JSON text that strict parsers accept: no bare NaN or Infinity."""
    return json.dumps(strict_json(obj), indent=indent, allow_nan=False)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, dumps_strict(obj))


def write_torch_atomic(path: str | Path, obj: Any) -> Path:
    """`torch.save` through the atomic writer (tensors and plain containers only, for weights_only loads)."""
    import torch

    def save(f: IO[bytes]) -> None:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        f.write(buffer.getbuffer())

    return write_atomic(path, save)


def open_regular(path: str | Path, max_bytes: int, refuse: Callable[[str, str], Exception] | None = None) -> IO[bytes]:
    """`path` opened for reading if it is a regular file of at most `max_bytes`, else `DamagedFileError`.

    Links are followed and the file is judged by `fstat` of what was opened (no race
    between a check and the open). O_NONBLOCK makes opening a named pipe return at
    once instead of waiting for a writer. FileNotFoundError is raised as usual.
    `refuse(problem, detail)` builds the error instead, where `problem` is `NOT_REGULAR`
    or `TOO_LARGE` (the data layer names dataset files in its own words).
    """
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise (refuse or _damaged(path, max_bytes))(NOT_REGULAR, file_kind(info.st_mode))
        if info.st_size > max_bytes:
            raise (refuse or _damaged(path, max_bytes))(TOO_LARGE, str(info.st_size))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


#: What `open_regular` refuses a file for.
NOT_REGULAR, TOO_LARGE = "not a regular file", "too large"


def _damaged(path: Path, max_bytes: int) -> Callable[[str, str], Exception]:
    def refuse(problem: str, detail: str) -> Exception:
        if problem == NOT_REGULAR:
            return DamagedFileError(path, f"{detail}, not a regular file; the harness reads back only regular files")
        return DamagedFileError(path, f"{detail} bytes, over the {max_bytes}-byte limit for this kind of file")

    return refuse


def read_bounded(path: str | Path, max_bytes: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of the regular file `path` (see `open_regular`), never more than `max_bytes`."""
    with open_regular(path, max_bytes) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew since it was opened
        raise DamagedFileError(Path(path), f"over the {max_bytes}-byte limit for this kind of file")
    return data


def load_torch(path: str | Path, max_bytes: int = MAX_ARRAY_BYTES) -> Any:
    """`torch.load(weights_only=True)` of a regular file: a pickle that would run code is refused, not run.

    torch's own warnings about odd files are silenced: the caller names the file in its own words.
    """
    import torch

    with open_regular(path, max_bytes) as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(f, map_location="cpu", weights_only=True)


def read_json(path: str | Path, expect: type | tuple[type, ...] = dict) -> Any:
    """Parse a JSON file the harness wrote; `DamagedFileError` naming it if it cannot be used.

    A missing file raises FileNotFoundError as usual: absence is not damage. Size is
    bounded (`MAX_JSON_BYTES`) and so is nesting (Python's recursion limit, about 1000
    levels: a record is 4 deep).
    """
    path = Path(path)
    try:
        data = read_bounded(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DamagedFileError(path, exc.strerror or str(exc)) from exc
    try:
        value = json.loads(data.decode("utf-8"))
    except RecursionError as exc:
        raise DamagedFileError(path, "nested too deeply to be a file the harness wrote") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise DamagedFileError(path, f"not valid JSON: {exc}") from exc
    if not isinstance(value, expect):
        raise DamagedFileError(path, f"holds a JSON {type(value).__name__}, not the expected structure")
    return value
