"""Every file the harness writes goes through here: atomically, with the user's umask.

A writer puts the bytes in a hidden temporary file in the destination folder,
fsyncs it, gives it the mode an ordinary `open()` would have (0666 less the
umask: collaborators on a shared store can read it; `mkstemp` alone would make it
0600), and renames it over the destination. A crash, a kill or a full disk
leaves either the previous file or the new one, never a fragment, and never a
temporary file behind.

JSON is written strictly: NaN and infinities become `null` (with the reason left
to the caller's field names), so strict parsers read every record.

`read_json` is the one reader of JSON files the harness wrote: on damage it raises
`DamagedFileError` naming the file, so each caller can rebuild, retrain or skip
that kind of file instead of failing on every rerun.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from fsfer_bench.errors import FsferError

__all__ = [
    "DamagedFileError",
    "read_json",
    "strict_json",
    "umask_mode",
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


def umask_mode() -> int:
    """The mode `open(path, "w")` would give a new file: 0666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


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
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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


def read_json(path: str | Path, expect: type | tuple[type, ...] = dict) -> Any:
    """Parse a JSON file the harness wrote; `DamagedFileError` naming it if it cannot be used.

    A missing file raises FileNotFoundError as usual: absence is not damage.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DamagedFileError(path, exc.strerror or str(exc)) from exc
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DamagedFileError(path, f"not valid JSON: {exc}") from exc
    if not isinstance(value, expect):
        raise DamagedFileError(path, f"holds a JSON {type(value).__name__}, not the expected structure")
    return value
