"""Fault injection: replay the hostile-input attacks of issues 15 and 26 and print a table of outcomes.

Every attack runs in a FRESH SUBPROCESS of this script (one Python process per
attack, with an address-space cap, RLIMIT_AS, and a timeout), and every command
it tries is the real CLI in a subprocess of that one, against a scratch copy of
the small shared datasets (CFEE, CK+48, mini-ImageNet) in a temporary folder,
with its own image cache, so nothing outside that folder is read or written.
Faults are real where this machine allows: a small tmpfs for a full disk
(`mount -t tmpfs`, as root; where mounting is refused a file-size limit,
RLIMIT_FSIZE, stands in and the table says so), real signals to real process
trees, named pipes and links to /dev/zero in the store. An attack passes when
the harness answers as the README promises:

- bad input: one line on stderr (`error: ...`), exit 2, no traceback;
- nothing hangs (each command and each attack has a timeout), nothing already
  written is lost, and nothing is read from outside the dataset folder;
- where the right answer is to go on (a damaged cache entry, a FIFO among the
  images or records), the command succeeds and a warning names what was skipped.

    FSFER_DATA=../shared/datasets python bench/fault_injection.py [--jobs 3] [--only NAME ...] [--keep]

Exit status: 0 when every attack passes, 1 otherwise. Each attack names the
part of the harness it attacks (its area: `harness`, `data`, `plugins`, `slurm`),
and the summary counts failures per area.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {"CFEE": "CFEE", "CKplus48": "CKplus48", "miniImageNet": "miniImageNet"}
#: The smallest run that trains, evaluates and stores: CK+ -> CFEE basic, 2-way 1-shot, 3 episodes, 16 px.
TINY = ["--split", "CFEE_B", "--train-on", "CKplus", "--way", "2", "--shot", "1", "--query", "2", "--episodes", "3",
        "--image-size", "16", "--set", "train.steps=1", "--set", "train.val_every=0", "--device", "cpu",
        "--quiet"]  # fmt: skip
QUICK_S, RUN_S = 90, 240  # timeouts: a refusal, a run that trains
ATTACK_S = 900  # the whole of one attack
#: An attack's address space (and that of every command it runs): reading /dev/zero whole fails with
#: MemoryError instead of taking the machine.
ATTACK_MEMORY = 4 * 2**30
CLI = [sys.executable, "-c", "from fsfer_bench.cli import main; main()"]


@dataclass
class Result:
    code: int | None  # None: timed out
    out: str
    err: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def show(self) -> str:
        tail = (self.err.strip().splitlines() or ["(no stderr)"])[-1][:160]
        return f"exit {self.code if self.code is not None else 'TIMEOUT'} in {self.seconds:.0f}s: {tail}"


class Failed(AssertionError):
    """An attack's expectation that did not hold."""


@dataclass
class Lab:
    """One attack's scratch space: a data root of pristine links plus its own copies, a store, a cache."""

    base: Path  # the shared scratch folder
    home: Path  # this attack's folder
    cache: Path = field(init=False)
    data: Path = field(init=False)
    notes: list[str] = field(default_factory=list)  # how a fault was made where the real one was refused
    mounts: list[Path] = field(default_factory=list)
    file_limit: int | None = None  # stands in for a full disk where no tmpfs can be mounted

    def __post_init__(self) -> None:
        self.data = self.home / "data"
        self.data.mkdir(parents=True)
        for name in DATASETS:  # the whole folder linked: its files resolve inside it
            (self.data / name).symlink_to(self.base / "pristine" / name)
        self.cache = self.base / "cache"

    def own(self, name: str) -> Path:
        """A private copy of dataset `name`, to damage."""
        (self.data / name).unlink()
        shutil.copytree(self.base / "pristine" / name, self.data / name)
        return self.data / name

    def own_cache(self) -> None:
        shutil.copytree(self.base / "cache", self.home / "cache")
        self.cache = self.home / "cache"

    def store(self) -> Path:
        """A copy of the base store (records, episode sets, the trained model)."""
        shutil.copytree(self.base / "store", self.home / "store")
        return self.home / "store"

    def env(self) -> dict[str, str]:
        return {**os.environ, "FSFER_CACHE": str(self.cache), "FSFER_DATA": str(self.data), "OMP_NUM_THREADS": "1",
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(self.home)])}  # fmt: skip

    def cli(self, *args: str, timeout: float = QUICK_S, file_limit: int | None = None,
            env: dict[str, str] | None = None) -> Result:  # fmt: skip
        """Run `fsfer-bench ARGS` as a subprocess in this lab's folder, data root and cache.

        A command that outlives `timeout` is killed with its whole process group (Result.code None);
        `file_limit` makes writes past that many bytes fail (RLIMIT_FSIZE), as on a full disk.
        """
        start = time.monotonic()
        process = subprocess.Popen([*CLI, *args], cwd=self.home, env=env or self.env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, errors="backslashreplace", start_new_session=True,
                                   preexec_fn=_limits(file_limit))  # fmt: skip
        try:
            out, err = process.communicate(timeout=timeout)
            return Result(process.returncode, out, err, time.monotonic() - start)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            return Result(None, out, err, time.monotonic() - start)

    def full_disk(self, free: int) -> Path:
        """A folder on a tmpfs with `free` bytes left: a real full disk (unmounted when the attack ends)."""
        disk = self.home / "disk"
        disk.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={free + 2**20}", "tmpfs", str(disk)],
                          capture_output=True).returncode != 0:  # fmt: skip
            self.notes.append("no tmpfs (mount refused): a file-size limit stood in for the full disk")
            self.file_limit = free
            return disk
        self.mounts.append(disk)
        filler = disk / ".filler"
        with open(filler, "wb") as f:  # leave exactly `free` bytes
            f.write(b"\0" * max(os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize - free, 0))
        return disk

    def free_disk(self, disk: Path) -> None:
        (disk / ".filler").unlink(missing_ok=True)
        self.file_limit = None

    def run(self, *args: str, timeout: float = RUN_S, **kw: object) -> Result:
        kw.setdefault("file_limit", self.file_limit)
        return self.cli("run", *TINY, *args, timeout=timeout, **kw)  # type: ignore[arg-type]


def _limits(file_limit: int | None) -> Callable[[], None]:
    """A `preexec_fn` for a command: its own process group's limits (the memory cap is inherited)."""

    def apply() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return apply


def _text(value: bytes | str | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value or ""


# ---------------------------------------------------------------- expectations


def refused(result: Result, *patterns: str, absent: tuple[str, ...] = ()) -> None:
    """One `error:` line on stderr, exit 2, no traceback; the line matches every pattern."""
    if result.code is None:
        raise Failed(f"hung: {result.show()}")
    errors = [line for line in result.lines if line.startswith("error:")]
    if result.code != 2 or len(errors) != 1 or "Traceback" in result.err:
        raise Failed(f"not a one-line refusal: {result.show()}")
    for pattern in patterns:
        if not re.search(pattern, errors[0]):
            raise Failed(f"message lacks /{pattern}/: {errors[0][:200]}")
    for text in absent:
        if text in result.err + result.out:
            raise Failed(f"says '{text}': {errors[0][:200]}")


def succeeded(result: Result, *warned: str) -> None:
    """Exit 0, no traceback, and a warning matching each of `warned`."""
    if result.code != 0 or "Traceback" in result.err:
        raise Failed(f"did not succeed: {result.show()}")
    for pattern in warned:
        if not re.search(pattern, result.err):
            raise Failed(f"no warning /{pattern}/: {result.show()}")


def check_ran(result: Result, *patterns: str) -> None:
    """`data check` finished (exit 0 or 1, a report on stdout) and the report matches each pattern."""
    if result.code not in (0, 1) or "Traceback" in result.err:
        raise Failed(f"data check did not report: {result.show()}")
    for pattern in patterns:
        if not re.search(pattern, result.out):
            raise Failed(f"report lacks /{pattern}/: {result.out[-300:]}")


def expect(condition: bool, why: str) -> None:
    if not condition:
        raise Failed(why)


# ---------------------------------------------------------------- the attacks

ATTACKS: list[tuple[str, str, Callable[[Lab], None]]] = []


def attack(name: str, area: str = "harness") -> Callable[[Callable[[Lab], None]], Callable[[Lab], None]]:
    def add(fn: Callable[[Lab], None]) -> Callable[[Lab], None]:
        ATTACKS.append((name, area, fn))
        return fn

    return add


def set_cfee_index(folder: Path, row: int, index: str) -> None:
    lines = (folder / "label.csv").read_text().splitlines()
    lines[row] = ",".join([index, *lines[row].split(",")[1:]])
    (folder / "label.csv").write_text("\n".join(lines) + "\n")


@attack("episodes-upper-bound", "protocol")
def _(lab: Lab) -> None:
    refused(lab.run("--episodes", "1000000000", "--out", "s", timeout=30), "episodes")


@attack("path-traversal-cfee-index")
def _(lab: Lab) -> None:
    cfee = lab.own("CFEE")
    evil = lab.home / "elsewhere" / "evil.jpg"
    evil.parent.mkdir()
    shutil.copyfile(sorted((cfee / "images").iterdir())[0], evil)
    set_cfee_index(cfee, 1, "../../../elsewhere/evil")
    check_ran(lab.cli("data", "check", "CFEE"), r"FATAL .*outside the dataset folder.*label.csv:2", r"FAILED")
    refused(lab.run("--out", "s"), r"label.csv:2: '../../../elsewhere/evil.jpg' leaves .*refused")
    refused(lab.cli("data", "preview", "CFEE", "--out", "p.png", "--image-size", "16"), "leaves")


@attack("path-traversal-miniimagenet")
def _(lab: Lab) -> None:
    mini = lab.own("miniImageNet")
    evil = lab.home / "evil.jpg"
    shutil.copyfile(next((mini / "images").iterdir()), evil)
    with open(mini / "train.csv", "a") as f:
        f.write(f"{evil},n01532829\n../../evil.jpg,n01532829\n")
    check_ran(lab.cli("data", "check", "miniImageNet"), r"FATAL .*outside the dataset folder", "FAILED")
    refused(lab.run("--train-on", "miniImageNet", "--out", "s"), r"train.csv:\d+: .* leaves .*refused")


@attack("fifo-image")
def _(lab: Lab) -> None:
    cfee = lab.own("CFEE")
    (cfee / "images" / "0002.jpg").unlink()
    os.mkfifo(cfee / "images" / "0002.jpg")
    check_ran(lab.cli("data", "check", "CFEE"), r"not a regular file.*0002.jpg")
    lab.own_cache()  # the FIFO changes the listing: decoded anew, in a cache of its own
    succeeded(lab.run("--out", "s"), r"skipped 1 entry \(not a regular file\).*0002.jpg")


@attack("fifo-label-file")
def _(lab: Lab) -> None:
    cfee = lab.own("CFEE")
    (cfee / "label.csv").unlink()
    os.mkfifo(cfee / "label.csv")
    refused(lab.cli("data", "check", "CFEE"), "label.csv is a named pipe")
    refused(lab.run("--out", "s"), "label.csv is a named pipe")


@attack("dev-zero-image")
def _(lab: Lab) -> None:
    cfee = lab.own("CFEE")
    (cfee / "images" / "0003.jpg").unlink()
    (cfee / "images" / "0003.jpg").symlink_to("/dev/zero")
    result = lab.cli("data", "check", "CFEE", timeout=QUICK_S)
    check_ran(result, r"0003.jpg")
    expect(result.seconds < QUICK_S, "data check took too long")


@attack("report-out-full-disk")
def _(lab: Lab) -> None:
    store = lab.store()
    table = lab.home / "table.md"
    succeeded(lab.cli("report", "--results", str(store), "--out", str(table)))
    before = table.read_bytes()
    limit = len(before) // 2  # the disk fills halfway through the new table
    refused(lab.cli("report", "--results", str(store), "--out", str(table), file_limit=limit), "cannot write")
    expect(table.read_bytes() == before, "the previous table was damaged")
    expect(not [p for p in lab.home.iterdir() if p.name.startswith(".table")], "a temporary file was left behind")


@attack("plot-out-full-disk")
def _(lab: Lab) -> None:
    store = lab.store()
    figure = lab.home / "f.png"
    args = ("plot", "shots", "--results", str(store), "--split", "CFEE_B", "--out", str(figure))
    succeeded(lab.cli(*args))
    before = figure.read_bytes()
    refused(lab.cli(*args, file_limit=4096), "cannot write")
    expect(figure.read_bytes() == before, "the previous figure was damaged")


@attack("training-reuse-ignores-data", "records")
def _(lab: Lab) -> None:
    store = lab.store()
    ck = lab.own("CKplus48")
    for k, path in enumerate(sorted(ck.rglob("*.png"))):
        if k % 3 == 0:
            path.unlink()
    result = lab.run("--out", str(store), "--reuse-training", "--format", "json")
    succeeded(result)
    record = json.loads(result.out)[0]
    expect(not record["training"]["reused"], "a model trained on the full CK+ was reused after a third was deleted")


# -- refusals that need no data: each command a subprocess of its own, reported one by one


@dataclass(frozen=True)
class Refusal:
    """Commands that must each be refused in one line matching `patterns`, and never say `absent`."""

    name: str
    commands: tuple[tuple[str, ...], ...]
    patterns: tuple[str, ...]
    absent: tuple[str, ...] = ()
    area: str = "harness"


def _run(*args: str) -> tuple[str, ...]:
    return ("run", *TINY, "--out", "s", *args)


REFUSALS = (
    Refusal("seed-negative", (_run("--seed", "-1"),), (r"--seed must be",)),
    Refusal("seed-huge", (_run("--seed", "100000000000000000000000"),), (r"--seed must be",)),
    Refusal("device-garbage", (_run("--device", "cuda:abc"),), (r"--device",)),
    Refusal("negative-lr", (_run("--set", "train.lr=-1"),), (r"train.lr",)),
    Refusal("nan-weight-decay", (_run("--set", "train.weight_decay=nan"),), (r"train.weight_decay",)),
    Refusal("val-fraction-2", (_run("--set", "train.val_fraction=2.0"),), (r"train.val_fraction",)),
    Refusal(
        "checkpoint-every-0-resume",
        (_run("--set", "train.checkpoint_every=0", "--resume"),),
        (r"train.checkpoint_every",),
    ),  # fmt: skip
    Refusal("binary-config", (_run("--config", "binary.toml"),), (r"binary.toml",)),
    Refusal(
        "toml-wrong-shapes",
        (
            _run("--config", "run5.toml"),
            _run("--config", "method3.toml"),
            _run("--config", "trainon5.toml"),
            _run("--config", "profile5.toml"),
            _run("--set", "data_paths=5"),
            _run("--set", "train_on=[1]"),
        ),
        (r"--config|\.toml|data_paths|train_on",),
    ),  # fmt: skip
    Refusal(
        "sweep-file-wrong-shape",
        (("sweep", "--config", "sweep3.toml", "--out", "s", "--dry-run"),),
        (r"sweep",),
        area="slurm",
    ),  # fmt: skip
    Refusal("way-0-message", (_run("--way", "0"), _run("--way", "1")), (r"at least 2",), ("at least 1",)),
    Refusal("set-train-way-1-names-it", (_run("--set", "train.way=1"),), (r"train.way",)),
    Refusal("option-on-method-without-options", (_run("--set", "option.nope=1"),), (r"no options",), ("(valid: )",)),
    Refusal("profile-paper-on-protonet", (_run("--profile", "paper"),), (r"its profiles: [a-z, ]*quick",)),
    Refusal("min-per-class-huge-message", (_run("--min-per-class", "100000"),), (r"min-per-class",), ("--way 0",)),
    Refusal("empty-out", (("run", *TINY, "--out", ""),), (r"--out",), ("saved under /records",)),
    Refusal(
        "plot-out-unwritable",
        (("plot", "shots", "--results", "store", "--split", "CFEE_B", "--out", "a-file/f.png"),),
        ("cannot write",),
    ),  # fmt: skip
)
FILES = {
    "binary.toml": bytes(range(256)) * 8,
    "run5.toml": b"run = 5\n",
    "method3.toml": b"[method]\nprotonet = 3\n",
    "trainon5.toml": b"[run]\ntrain_on = 5\n",
    "profile5.toml": b"[method.protonet.profiles.quick]\ntrain = 5\n",
    "sweep3.toml": b"sweep = 3\n",
    "a-file": b"x",
}


def _refusal_attack(refusal: Refusal) -> Callable[[Lab], None]:
    def replay_one(lab: Lab) -> None:
        for name, data in FILES.items():
            (lab.home / name).write_bytes(data)
        if any("store" in command for command in refusal.commands):
            lab.store()
        for command in refusal.commands:
            refused(lab.cli(*command), *refusal.patterns, absent=refusal.absent)

    return replay_one


for _refusal in REFUSALS:
    attack(_refusal.name, _refusal.area)(_refusal_attack(_refusal))


@attack("device-cuda-without-gpu")
def _(lab: Lab) -> None:
    result = lab.run("--device", "cuda:0", "--out", "s")
    if result.code == 0:  # this machine has a GPU: the attack does not apply
        return
    refused(result, r"cuda")


@attack("weights-holding-a-list", "real-data")
def _(lab: Lab) -> None:
    import torch

    torch.save([1, 2, 3], lab.home / "w.pt")
    refused(lab.run("--weights", "w.pt", "--out", "s"), r"w.pt")


class _Evil:
    def __reduce__(self) -> tuple:
        return (print, ("PWNED",))


@attack("weights-hostile-pickle", "real-data")
def _(lab: Lab) -> None:
    (lab.home / "w.pt").write_bytes(pickle.dumps(_Evil()))
    refused(lab.run("--weights", "w.pt", "--out", "s"), r"w.pt", absent=("PWNED", "weights_only=False"))


def _model_files(store: Path) -> list[Path]:
    return [p for p in (store / "models").glob("*.pt") if not p.name.endswith(".ckpt.pt")]


@attack("model-cache-corrupt", "records")
def _(lab: Lab) -> None:
    store = lab.store()
    for path in _model_files(store):
        path.write_bytes(b"\x00garbage" * 10)
    for _ in range(2):  # retrained the first time, and the rerun is fine too
        succeeded(lab.run("--out", str(store), "--reuse-training"))


@attack("model-cache-hostile-pickle", "records")
def _(lab: Lab) -> None:
    store = lab.store()
    for path in _model_files(store):
        path.write_bytes(pickle.dumps(_Evil()))
    result = lab.run("--out", str(store), "--reuse-training")
    succeeded(result)
    expect("PWNED" not in result.out + result.err, "the pickle ran")


@attack("truncated-checkpoint-resume", "training")
def _(lab: Lab) -> None:
    store = lab.store()
    for path in _model_files(store):
        data = path.read_bytes()
        path.with_name(path.name[: -len(".pt")] + ".ckpt.pt").write_bytes(data[: len(data) // 2])
        path.unlink()
        path.with_suffix(".json").unlink(missing_ok=True)
    for _ in range(2):
        succeeded(lab.run("--out", str(store), "--resume"))


@attack("non-utf8-file-name")
def _(lab: Lab) -> None:
    ck = lab.own("CKplus48")
    first = sorted((ck / "happy").iterdir())[0]
    shutil.copyfile(first, os.path.join(os.fsencode(ck / "happy"), b"S999_001_\xff.png"))
    check_ran(lab.cli("data", "check", "CKplus"), r"S999_001_\\xff.png|S999_001_\\udcff.png")
    lab.own_cache()
    preview = lab.cli("data", "preview", "CKplus", "--out", "p.png", "--image-size", "16")
    succeeded(preview, r"S999_001_\\(xff|udcff).png")
    succeeded(lab.run("--out", "s"), r"S999_001_\\(xff|udcff).png")


def _records(store: Path) -> list[Path]:
    return sorted((store / "records").rglob("*.json"))


@attack("record-with-wrong-types", "records")
def _(lab: Lab) -> None:
    store = lab.store()
    path = _records(store)[0]
    record = json.loads(path.read_text())
    twin = store / "records" / "evil-types.json"
    twin.write_text(json.dumps({**record, "record_id": "evil-types", "mean": "high", "accuracies": "x", "shot": "5"}))
    result = lab.cli("report", "--results", str(store))
    expect(result.code in (0, 2) and "Traceback" not in result.err, f"report broke: {result.show()}")
    expect("evil-types" in result.err, f"the bad record is not named: {result.show()}")


@attack("absurd-accuracies", "records")
def _(lab: Lab) -> None:
    store = lab.store()
    record = json.loads(_records(store)[0].read_text())
    for name, mean in (("evil-high", 500.0), ("evil-low", -300.0)):
        accuracies = [mean] * len(record["accuracies"])
        fake = {**record, "record_id": name, "method": name, "mean": mean, "accuracies": accuracies}
        (store / "records" / f"{name}.json").write_text(json.dumps(fake))
    result = lab.cli("report", "--results", str(store))
    expect(result.code in (0, 2) and "Traceback" not in result.err, f"report broke: {result.show()}")
    expect("500" not in result.out and "-300" not in result.out, "absurd accuracies are in the table")


@attack("one-episode-nan", "records")
def _(lab: Lab) -> None:
    store = lab.store()
    text = lab.run("--out", str(store), "--reuse-training", "--episodes", "1", "--quiet")
    as_json = lab.run("--out", str(store), "--reuse-training", "--episodes", "1", "--format", "json")
    succeeded(text)
    succeeded(as_json)
    expect("nan" not in text.out.lower(), f"prints nan: {text.out.strip()[:160]}")

    def bare(constant: str) -> None:
        raise Failed(f"--format json holds a bare {constant}")

    json.loads(as_json.out, parse_constant=bare)
    for path in _records(store):
        json.loads(path.read_text(), parse_constant=bare)


@attack("label-csv-missing-column")
def _(lab: Lab) -> None:
    cfee = lab.own("CFEE")
    text = (cfee / "label.csv").read_text().replace("emotion_idx", "emotion", 1)
    (cfee / "label.csv").write_text(text)
    refused(lab.cli("data", "check", "CFEE"), r"emotion_idx", absent=("generic layout",))
    refused(lab.run("--out", "s"), r"emotion_idx")


@attack("image-cache-inconsistent")
def _(lab: Lab) -> None:
    lab.own_cache()
    entries = [p for p in lab.cache.iterdir() if p.name.startswith("CFEE-") and (p / "meta.json").exists()]
    expect(bool(entries), "no CFEE cache entry to damage")
    for entry in entries:
        meta = json.loads((entry / "meta.json").read_text())
        meta["labels"] = meta["labels"][:-1]
        (entry / "meta.json").write_text(json.dumps(meta))
    succeeded(lab.cli("data", "preview", "CFEE", "--out", "p.png", "--image-size", "16"), "rebuilding")


@attack("full-disk-hidden-episode-file", "records")
def _(lab: Lab) -> None:
    store = lab.store()
    result = lab.run("--out", str(store), "--reuse-training", "--seed", "7", file_limit=1024)
    expect(result.code is not None and "Traceback" not in result.err, f"broke: {result.show()}")
    hidden = [p for p in store.rglob(".*") if p.is_file()]
    expect(not hidden, f"partial files left: {[p.name for p in hidden][:3]}")


@attack("files-readable-by-collaborators", "records")
def _(lab: Lab) -> None:
    store = lab.base / "store"  # written under umask 022 by the set-up run
    private = [p for p in store.rglob("*") if p.is_file() and p.stat().st_mode & 0o044 != 0o044]
    expect(not private, f"not group/other-readable under umask 022: {[p.name for p in private][:3]}")


def _sweep(lab: Lab, store: Path, *more: str) -> Result:
    return lab.cli("sweep", "--methods", "protonet", "--splits", "CFEE_B", "--shots", "1", "--seeds", "0",
                   "--out", str(store), "--dry-run", "--format", "json", *more)  # fmt: skip


@attack("corrupt-failure-file", "slurm")
def _(lab: Lab) -> None:
    store = lab.home / "sweep-store"
    planned = _sweep(lab, store)
    succeeded(planned)
    cell = json.loads(planned.out)[0]["config_hash"]
    (store / "failures").mkdir(parents=True)
    (store / "failures" / f"{cell}.json").write_text("{garbage")
    retry = _sweep(lab, store, "--retry-failed")
    succeeded(retry)
    expect(json.loads(retry.out)[0]["run"], "a cell whose failure file is damaged is not retried")


@attack("garbage-claim-file", "slurm")
def _(lab: Lab) -> None:
    store = lab.home / "sweep-store"
    planned = _sweep(lab, store)
    cell = json.loads(planned.out)[0]["config_hash"]
    (store / "claims").mkdir(parents=True)
    (store / "claims" / f"{cell}.0").write_bytes(b"\x00\xffnot a claim")
    again = _sweep(lab, store)
    succeeded(again)
    expect(json.loads(again.out)[0]["run"], "a garbage claim file holds the cell")


# ---------------------------------------------------------------- issue 26: the results store


def plant(path: Path, kind: str) -> Path:
    """A named pipe ("fifo") or a link to /dev/zero ("zero") at `path`, in place of whatever was there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    return path


def _readers(store: Path) -> list[tuple[str, ...]]:
    """The commands that read every record of a store back."""
    return [
        ("report", "--results", str(store)),
        ("compare", "protonet", "protonet", "--split", "CFEE_B", "--shot", "1", "--results", str(store)),
        ("plot", "shots", "--results", str(store), "--split", "CFEE_B", "--out", "f.png"),
    ]


def _store_record_attack(kind: str) -> Callable[[Lab], None]:
    def replay_one(lab: Lab) -> None:
        store = lab.store()
        plant(store / "records" / "x.json", kind)
        for command in _readers(store):
            result = lab.cli(*command)
            expect(result.code is not None, f"{command[0]} hung on a {kind} record")
            expect(result.code in (0, 2) and "Traceback" not in result.err, f"{command[0]}: {result.show()}")
            expect("x.json" in result.err, f"{command[0]} does not name the {kind} record: {result.show()}")
        succeeded(_sweep(lab, store), "x.json")

    return replay_one


for _kind in ("fifo", "zero"):
    attack(f"store-{_kind}-record")(_store_record_attack(_kind))


@attack("store-deep-json-record")
def _(lab: Lab) -> None:
    store = lab.store()
    (store / "records" / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    succeeded(lab.cli("report", "--results", str(store)), r"deep.json.*nested too deeply")
    succeeded(_sweep(lab, store), r"deep.json")


@attack("store-fifo-model-reuse-training")
def _(lab: Lab) -> None:
    store = lab.store()
    for path in _model_files(store):
        plant(path, "fifo")
    succeeded(lab.run("--out", str(store), "--reuse-training"), r"\.pt .*named pipe")


@attack("store-zero-checkpoint-resume")
def _(lab: Lab) -> None:
    store = lab.store()
    for path in _model_files(store):
        plant(path.with_name(path.name[: -len(".pt")] + ".ckpt.pt"), "zero")
        path.unlink()
        path.with_suffix(".json").unlink(missing_ok=True)
    succeeded(lab.run("--out", str(store), "--resume"), r"ckpt.pt.*character device")


@attack("store-fifo-episode-set")
def _(lab: Lab) -> None:
    store = lab.store()
    for path in (store / "episodes").glob("*.npz"):
        plant(path, "fifo")
    result = lab.run("--out", str(store), "--reuse-training")
    expect(result.code is not None and "Traceback" not in result.err, f"run broke: {result.show()}")
    for command in _readers(store):
        result = lab.cli(*command)
        expect(result.code in (0, 2) and "Traceback" not in result.err, f"{command[0]}: {result.show()}")


@attack("store-fifo-failure-retry")
def _(lab: Lab) -> None:
    store = lab.home / "sweep-store"
    cell = json.loads(_sweep(lab, store).out)[0]["config_hash"]
    plant(store / "failures" / f"{cell}.json", "fifo")
    retry = _sweep(lab, store, "--retry-failed")
    succeeded(retry, r"named pipe")
    expect(json.loads(retry.out)[0]["run"], "a cell whose failure file is a pipe is not retried")


@attack("store-zero-claim")
def _(lab: Lab) -> None:
    store = lab.home / "sweep-store"
    cell = json.loads(_sweep(lab, store).out)[0]["config_hash"]
    plant(store / "claims" / f"{cell}.0", "zero")
    again = _sweep(lab, store)
    succeeded(again, r"character device")
    expect(json.loads(again.out)[0]["run"], "a claim linked to /dev/zero holds the cell")


@attack("claim-dated-in-the-future")
def _(lab: Lab) -> None:
    store = lab.home / "sweep-store"
    cell = json.loads(_sweep(lab, store).out)[0]["config_hash"]
    claim = store / "claims" / f"{cell}.0"
    claim.parent.mkdir(parents=True)
    claim.write_text(json.dumps({"pid": 1, "host": "elsewhere", "token": "theirs"}))
    stamp = time.time() + 365 * 86400
    os.utime(claim, (stamp, stamp))
    again = _sweep(lab, store)
    succeeded(again, r"in the future.*stale")
    expect(json.loads(again.out)[0]["run"], "a claim dated a year ahead holds its cell")


#: Weights need a backbone that takes them, at a size it accepts.
RESNET = ("--backbone", "resnet18", "--image-size", "32", "--weights-preset", "none")


@attack("weights-fifo-and-dev-zero")
def _(lab: Lab) -> None:
    for kind in ("fifo", "zero"):
        plant(lab.home / "w.pt", kind)
        result = lab.run(*RESNET, "--weights", "w.pt", "--out", "s")
        refused(result, r"w.pt.*not a regular file")


@attack("weights-pickle-one-line")
def _(lab: Lab) -> None:
    (lab.home / "w.pt").write_bytes(pickle.dumps(_Evil()))
    result = lab.run(*RESNET, "--weights", "w.pt", "--out", "s")
    refused(result, r"w.pt", absent=("PWNED", "file an issue", "weights_only=False"))


# ---------------------------------------------------------------- issue 26: configs


@attack("config-dev-zero-and-fifo")
def _(lab: Lab) -> None:
    for kind in ("zero", "fifo"):
        plant(lab.home / "c.toml", kind)
        refused(lab.run("--config", "c.toml", "--out", "s"), r"c.toml.*not a regular file")
    refused(lab.run("--config", "/dev/zero", "--out", "s"), r"/dev/zero.*character device")


@attack("config-deep-toml")
def _(lab: Lab) -> None:
    (lab.home / "deep.toml").write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    refused(lab.run("--config", "deep.toml", "--out", "s"), r"deep.toml is nested too deeply")


@attack("config-with-bom")
def _(lab: Lab) -> None:
    (lab.home / "bom.toml").write_bytes(b"\xef\xbb\xbf[run]\nseed = 3\n")
    result = lab.run("--config", "bom.toml", "--out", "s", "--format", "json")
    succeeded(result)
    expect(json.loads(result.out)[0]["seed"] == 3, "the BOM config's seed was not used")


@attack("train-on-empty")
def _(lab: Lab) -> None:
    for value in ("", ",,"):
        refused(lab.cli("run", *TINY[:2], "--train-on", value, *TINY[4:], "--out", "s"), r"--train-on.*e\.g\.")
        refused(lab.cli("sweep", "--methods", "protonet", "--splits", "CFEE_B", "--train-on", value, "--out", "s",
                        "--dry-run"), r"train_on.*e\.g\.")  # fmt: skip


# ---------------------------------------------------------------- issue 26: the evaluator's inputs

BROKEN_METHODS = """
import torch
from fsfer_bench.methods import FeatureMethod, FewShotMethod, register_method

ANSWERS = {
    "nan": lambda n, w: torch.full((n, w), float("nan")),
    "inf": lambda n, w: torch.full((n, w), float("inf")),
    "columns": lambda n, w: torch.zeros(n, w + 3),
    "rows": lambda n, w: torch.zeros(n + 1, w),
    "flat": lambda n, w: torch.zeros(n),
    "list": lambda n, w: [[0.0] * w] * n,
    "labels": lambda n, w: torch.zeros(n, dtype=torch.long),
}
for kind, answer in ANSWERS.items():
    def predict(self, support, support_labels, query, answer=answer):
        return answer(len(query), int(support_labels.max()) + 1)
    def classify(self, support, support_labels, query, answer=answer):
        return answer(len(query), int(support_labels.max()) + 1)
    register_method(f"broken-{kind}")(type(f"Broken_{kind}", (FewShotMethod,), {"predict": predict}))
    register_method(f"broken-fast-{kind}")(type(f"BrokenFast_{kind}", (FeatureMethod,), {"classify": classify}))
"""


@attack("logits-not-logits")
def _(lab: Lab) -> None:
    """Each broken method, on both evaluator paths, in a sweep (its cells fail naming the method)."""
    (lab.home / "brokenmethods.py").write_text(BROKEN_METHODS)
    kinds = ("nan", "inf", "columns", "rows", "flat", "list", "labels")
    methods = ",".join(f"broken-{k},broken-fast-{k}" for k in kinds)
    (lab.home / "sweep.toml").write_text('[sweep]\nplugins = ["brokenmethods"]\n')
    result = lab.cli("sweep", "--config", "sweep.toml", "--methods", methods, "--splits", "CFEE_B", "--shots", "1",
                     "--train-on", "CKplus", "--out", "s", "--set", "way=2", "--set", "query=2", "--set", "episodes=2",
                     "--set", "image_size=16", "--set", "train.regime=frozen", "--set", "train.val_every=0",
                     "--set", "device=cpu", "--format", "json", timeout=RUN_S * 2)  # fmt: skip
    expect(result.code == 1 and "Traceback" not in result.err, f"sweep: {result.show()}")
    cells = {c["cell"].split()[0]: c for c in json.loads(result.out)["cells"]} if result.out.strip() else {}
    for method in methods.split(","):
        reason = (cells.get(method) or {}).get("reason", "")
        expect(f"method {method} returned" in reason, f"{method}: {reason[:160] or 'no failure recorded'}")


# ---------------------------------------------------------------- issue 26: signals and full disks


def _process_tree(pid: int) -> set[int]:
    found = {pid}
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found |= set().union(*(_process_tree(int(c)) for c in children.read_text().split()))
        except OSError:
            continue
    return found


def _running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.add(pid)
        except OSError:
            continue
    return alive


def _signal_attack(signum: int) -> Callable[[Lab], None]:
    def replay_one(lab: Lab) -> None:
        store = lab.home / "sweep-store"
        (lab.home / "sweep.toml").write_text(
            '[run]\nway = 2\nquery = 2\nepisodes = 3\nimage_size = 16\ndevice = "cpu"\n'
            "[train]\nsteps = 3000\nval_every = 0\n"
        )
        args = ["sweep", "--config", "sweep.toml", "--methods", "protonet", "--splits", "CFEE_B", "--train-on",
                "CKplus", "--shots", "1", "--seeds", "0,1,2,3", "--out", str(store)]  # fmt: skip
        sweep = subprocess.Popen([*CLI, *args, "--jobs", "2", "--quiet"], cwd=lab.home, env=lab.env(), text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
        tree: set[int] = set()
        try:
            deadline = time.monotonic() + RUN_S
            while len(list((store / "claims").glob("*.*"))) < 2:
                expect(time.monotonic() < deadline and sweep.poll() is None, "the workers never claimed their cells")
                time.sleep(0.2)
            time.sleep(2.0)
            tree = _process_tree(sweep.pid)
            sweep.send_signal(signum)
            start = time.monotonic()
            while _running(tree) and time.monotonic() - start < 15:
                time.sleep(0.2)
            left = _running(tree)
            _, err = sweep.communicate(timeout=30)
        finally:
            os.killpg(sweep.pid, signal.SIGKILL) if sweep.poll() is None else None
            for pid in _running(tree):  # what the harness failed to end: ended here, not left to idle
                os.kill(pid, signal.SIGKILL)
        expect(not left, f"{len(left)} of the sweep's {len(tree)} processes still ran 15 s after the signal")
        expect(sweep.returncode == 128 + signum and "Traceback" not in err, f"exit {sweep.returncode}: {err[-300:]}")
        expect(not list((store / "claims").iterdir()), "claims left held")
        expect(not [p for p in store.rglob(".*") if p.is_file()], "temporary files left behind")
        plan = lab.cli(*args, "--dry-run", "--format", "json")
        succeeded(plan)
        expect(all(c["run"] or "already" in c["note"] for c in json.loads(plan.out)), "a rerun does not resume")

    return replay_one


attack("sweep-sigterm-jobs-2")(_signal_attack(signal.SIGTERM))
attack("sweep-sighup-jobs-2")(_signal_attack(signal.SIGHUP))


@attack("full-disk-training-checkpoint")
def _(lab: Lab) -> None:
    """A tmpfs with room for one checkpoint, not two: the run fails in one line, the first checkpoint is kept."""
    disk = lab.full_disk(free=2_000_000)
    args = ("--out", str(disk / "store"), "--resume", "--set", "train.steps=3", "--set", "train.checkpoint_every=1")
    refused(lab.run(*args), r"cannot write .*(No space|File too large).*previous file there is kept")
    checkpoints = list((disk / "store" / "models").glob("*.ckpt.pt"))
    expect(len(checkpoints) == 1, f"no checkpoint kept: {checkpoints}")
    expect(not [p for p in disk.rglob(".*") if p.is_file() and p.name != ".filler"], "temporary files left behind")
    lab.free_disk(disk)
    succeeded(lab.run(*args))


@attack("full-disk-model-cache")
def _(lab: Lab) -> None:
    """Room for the training but not for the trained model: one line, exit 2."""
    disk = lab.full_disk(free=300_000)
    refused(lab.run("--out", str(disk / "store"), "--reuse-training"), r"cannot write .*(No space|File too large)")
    expect(not [p for p in disk.rglob(".*") if p.is_file() and p.name != ".filler"], "temporary files left behind")


@attack("face-align-no-face-warning")
def _(lab: Lab) -> None:
    from PIL import Image

    ck = lab.own("CKplus48")
    noise = Image.effect_noise((48, 48), 60).convert("RGB")
    for k in range(40):  # faceless images among CK+'s faces (which dlib finds)
        noise.rotate(9 * k).save(ck / "happy" / f"S98{k:02d}_001_00000001.png")
    lab.own_cache()
    result = lab.cli("data", "preview", "CKplus", "--face-align", "--out", "p.png", "--image-size", "16", timeout=RUN_S)
    succeeded(result, r"no face found in \d+ of \d+ images .*\(\d+%\)")
    expect(len([line for line in result.lines if "no face found" in line]) == 1, "not one warning line")


# ---------------------------------------------------------------- issue 26: other developers' items


def _stray_quote(path: Path, row: int) -> None:
    lines = path.read_text().splitlines()
    lines[row] = lines[row].replace(",", ',"', 1)
    path.write_text("\n".join(lines) + "\n")


@attack("csv-stray-quote-cfee-label", "data")
def _(lab: Lab) -> None:
    cfee = lab.own("CFEE")
    _stray_quote(cfee / "label.csv", 1000)
    check_ran(lab.cli("data", "check", "CFEE"), r"label.csv:1001", r"FAILED|error")
    lab.own_cache()
    succeeded(lab.run("--out", "s"), r"label.csv:1001: \d+ rows? lost")
    refused(lab.run("--out", "s2", "--strict"), r"label.csv:1001")


@attack("csv-stray-quote-manifest", "data")
def _(lab: Lab) -> None:
    ck = lab.data / "CKplus48"
    folder = lab.home / "Manifested"
    (folder / "images").mkdir(parents=True)
    rows = ["path,label,subject"]
    # copied flat under plain names, so the folder is a manifest layout and not CK+48's (class folders, S005_ names);
    # copies, since links that lead out of a dataset folder are refused
    for i, p in enumerate(sorted(ck.rglob("*.png"))):
        shutil.copyfile(p, folder / "images" / f"face{i:04d}.png")
        rows.append(f"images/face{i:04d}.png,{p.parent.name},{p.name.split('_')[0]}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    _stray_quote(folder / "manifest.csv", 700)
    check_ran(lab.cli("data", "check", "Manifested", "--data-path", f"Manifested={folder}"), r"manifest.csv:701")


@attack("fifo-in-class-folders", "data")
def _(lab: Lab) -> None:
    ck = lab.own("CKplus48")
    os.mkfifo(ck / "happy" / "S999_001_00000001.png")
    check_ran(lab.cli("data", "check", "CKplus"), r"not a regular file.*S999_001_00000001.png")


@attack("non-utf8-data-folder", "data")
def _(lab: Lab) -> None:
    root = Path(os.fsdecode(os.path.join(os.fsencode(lab.home), b"data-\xff")))
    root.mkdir()
    (root / "CKplus48").symlink_to(lab.base / "pristine" / "CKplus48")
    result = lab.cli("data", "check", "CKplus", env={**lab.env(), "FSFER_DATA": str(root)})
    expect("rename the file" not in result.out + result.err, "blames every file, not the folder")
    expect(re.search(r"data-\\(xff|udcff)", result.out + result.err) is not None, "the folder is not named")


@attack("fsfer-data-is-a-file", "data")
def _(lab: Lab) -> None:
    (lab.home / "afile").write_text("x")
    result = lab.cli("data", "check", "CKplus", env={**lab.env(), "FSFER_DATA": str(lab.home / "afile")})
    refused(result, r"afile.*FSFER_DATA.*(is a file|not a folder)")


@attack("label-map-wrong-way-round", "data")
def _(lab: Lab) -> None:
    result = lab.cli("data", "check", "CKplus", "--label-map", "happy=joyful")
    expect("map it with --label-map 'joyful=<name>'" not in result.out + result.err, "suggests the wrong fix")
    expect(re.search(r"joyful.*(canonical|NATIVE=canonical)", result.out + result.err) is not None,
           f"does not say that 'joyful' is not a canonical name: {result.show()}")  # fmt: skip


@attack("duplicate-warning-summarised", "data")
def _(lab: Lab) -> None:
    ck = lab.own("CKplus48")
    first = sorted((ck / "happy").iterdir())[0]
    for k in range(20_000):
        os.link(first, ck / "happy" / f"S{800 + k // 1000:03d}_{k % 1000:03d}_00000001.png")
    result = lab.cli("data", "check", "CKplus", timeout=RUN_S * 2)
    check_ran(result)
    longest = max((len(line) for line in (result.out + result.err).splitlines()), default=0)
    expect(longest < 2000, f"a line of {longest} characters")


@attack("extreme-image-sizes", "data")
def _(lab: Lab) -> None:
    from PIL import Image

    ck = lab.own("CKplus48")
    names = {
        "S990_001_00000001.png": (1, 1),
        "S991_001_00000001.png": (10000, 10),
        "S992_001_00000001.png": (10, 10000),
    }
    for name, size in names.items():
        Image.new("RGB", size).save(ck / "happy" / name)
    result = lab.cli("data", "check", "CKplus")
    check_ran(result, *(re.escape(name) for name in names))


PLUGINS = {"raises.py": "raise RuntimeError('boom')\n", "syntax.py": "def (\n"}


@attack("plugin-errors-named", "plugins")
def _(lab: Lab) -> None:
    for name, text in PLUGINS.items():
        (lab.home / name).write_text(text)
    for module in ("raises", "syntax"):
        refused(lab.run("--plugin", module, "--out", "s"), rf"plugin.*{module}")
    refused(lab.run("--plugin", "", "--out", "s"), r"--plugin")


@attack("register-method-unsafe-names", "plugins")
def _(lab: Lab) -> None:
    (lab.home / "evilnames.py").write_text(
        "from baselines.protonet import ProtoNet\nfrom fsfer_bench.methods import register_method\n"
        "register_method('x/../../../../escaped')(type('Evil', (ProtoNet,), {}))\n"
    )
    result = lab.run("--plugin", "evilnames", "--method", "x/../../../../escaped", "--out", "s")
    refused(result, r"name")
    expect(not list(lab.base.rglob("escaped*")), "a record escaped the store")


# ---------------------------------------------------------------- driver


def set_up(base: Path, shared: Path) -> None:
    """Copy the small shared datasets, and make the base store with one tiny run (it also warms the cache)."""
    for name, folder in DATASETS.items():
        shutil.copytree(shared / folder, base / "pristine" / name)
    (base / "cache").mkdir()
    lab = Lab(base, base / "setup")
    result = lab.run("--out", str(base / "store"), "--reuse-training", "--format", "json")
    if result.code != 0:
        raise SystemExit(f"set-up run failed: {result.show()}\n{result.err[-2000:]}")


Outcome = tuple[str, str, bool, str, float]  # name, area, passed, why not (or how the fault was made), seconds


def replay(base: Path, name: str) -> Outcome:
    """Run attack `name` in this process (a fresh one, see `replay_all`): its outcome."""
    area, fn = {a[0]: (a[1], a[2]) for a in ATTACKS}[name]
    lab = Lab(base, base / "attacks" / name)
    start = time.monotonic()
    try:
        fn(lab)
        passed, why = True, "; ".join(lab.notes)
    except Failed as exc:
        passed, why = False, str(exc)
    except Exception as exc:  # the script's own trouble: report it as a failure of the attack
        passed, why = False, f"{type(exc).__name__}: {exc}"
    finally:
        for mount in lab.mounts:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    return name, area, passed, why, time.monotonic() - start


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ATTACK_MEMORY, resource.getrlimit(resource.RLIMIT_AS)[1]))


def replay_one(base: Path, name: str) -> Outcome:
    """Attack `name` in a fresh subprocess under the memory cap; a timeout or a crash is a failure."""
    area = dict((a[0], a[1]) for a in ATTACKS)[name]
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, __file__, "--attack", name, str(base)], cwd=base,
                               env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=_cap_memory)  # fmt: skip
    try:
        out, err = process.communicate(timeout=ATTACK_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return name, area, False, f"the attack ran past {ATTACK_S} s", time.monotonic() - start
    lines = [line for line in out.splitlines() if line.startswith("[")]
    if not lines:
        tail = (err.strip().splitlines() or ["no output"])[-1][:200]
        why = f"the attack process died (exit {process.returncode}): {tail}"
        return name, area, False, why, time.monotonic() - start
    return tuple(json.loads(lines[-1]))  # type: ignore[return-value]


def replay_all(base: Path, names: list[str], jobs: int) -> list[Outcome]:
    """Each attack in its own process, `jobs` at a time, in the order given."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda name: replay_one(base, name), names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=os.environ.get("FSFER_DATA", str(ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--jobs", type=int, default=3, help="worker processes replaying attacks at once")
    parser.add_argument("--only", nargs="*", help="replay only these attacks")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--attack", help=argparse.SUPPRESS)  # internal: replay this one attack, print its outcome
    parser.add_argument("scratch", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:
        print(json.dumps(replay(Path(args.scratch), args.attack)), flush=True)
        return
    shared = Path(args.data_root)
    if not all((shared / f).is_dir() for f in DATASETS.values()):
        raise SystemExit(f"the shared datasets ({', '.join(DATASETS.values())}) are not under {shared}")
    names = [a[0] for a in ATTACKS if not args.only or a[0] in args.only]
    base = Path(tempfile.mkdtemp(prefix="fsfer-faults-"))
    start = time.monotonic()
    try:
        set_up(base, shared)
        print(f"set-up: {time.monotonic() - start:.0f}s; replaying {len(names)} attacks in {base}", flush=True)
        outcomes = replay_all(base, names, args.jobs)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"{'outcome':<7} {'attack':<40} {'area':<9} {'time':>6}  why not / note")
    for name, area, ok, why, seconds in outcomes:
        print(f"{'PASS' if ok else 'FAIL':<7} {name:<40} {area:<9} {seconds:5.1f}s  {' '.join(why.split())[:200]}")
    failed = [o for o in outcomes if not o[2]]
    by_area = ", ".join(f"{area} {sum(o[1] == area for o in failed)}" for area in sorted({o[1] for o in failed}))
    print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed{f' ({by_area})' if failed else ''}, "
          f"in {time.monotonic() - start:.0f}s")  # fmt: skip
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
