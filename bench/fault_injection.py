"""Fault injection: replay the hostile-input attacks of issue 15 and print pass/fail per attack.

Every attack runs the real CLI in a subprocess, against a scratch copy of the
small shared datasets (CFEE, CK+48, mini-ImageNet) in a temporary folder, with
its own image cache, so nothing outside that folder is read or written. An
attack passes when the harness answers as the README promises:

- bad input: one line on stderr (`error: ...`), exit 2, no traceback;
- nothing hangs (each command has a timeout), nothing already written is lost,
  and nothing is read from outside the dataset folder;
- where the right answer is to go on (a damaged cache entry, a FIFO among the
  images), the run succeeds and a warning names what was skipped or rebuilt.

    FSFER_DATA=../shared/datasets python bench/fault_injection.py [--jobs 3] [--only NAME ...] [--keep]

Exit status: 0 when every attack passes, 1 otherwise. Attacks whose fix belongs to
another part of the code are listed with their owner, so a failure says whose it is.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {"CFEE": "CFEE", "CKplus48": "CKplus48", "miniImageNet": "miniImageNet"}
#: The smallest run that trains, evaluates and stores: CK+ -> CFEE basic, 2-way 1-shot, 3 episodes, 16 px.
TINY = ["--split", "CFEE_B", "--train-on", "CKplus", "--way", "2", "--shot", "1", "--query", "2", "--episodes", "3",
        "--image-size", "16", "--set", "train.steps=1", "--set", "train.val_every=0", "--device", "cpu",
        "--quiet"]  # fmt: skip
QUICK_S, RUN_S = 60, 150  # timeouts: a refusal, a run that trains


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

    def cli(self, *args: str, timeout: float = QUICK_S, file_limit: int | None = None) -> Result:
        """Run `fsfer-bench ARGS` in a subprocess, with this lab's data root (FSFER_DATA) and cache."""
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FSFER_CACHE": str(self.cache), "FSFER_DATA": str(self.data)}
        env.pop("FSFER_DEBUG", None)

        def limits() -> None:
            os.umask(0o022)
            if file_limit is not None:  # a full disk, as the process sees it: writes past this fail (EFBIG)
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

        command = [sys.executable, "-c", "from fsfer_bench.cli import main; main()", *args]
        start = time.monotonic()
        try:
            done = subprocess.run(command, cwd=self.home, env=env, capture_output=True, text=True, timeout=timeout,
                                  preexec_fn=limits, errors="backslashreplace")  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            return Result(None, _text(exc.stdout), _text(exc.stderr), time.monotonic() - start)
        return Result(done.returncode, done.stdout, done.stderr, time.monotonic() - start)

    def run(self, *args: str, timeout: float = RUN_S, **kw: object) -> Result:
        return self.cli("run", *TINY, *args, timeout=timeout, **kw)  # type: ignore[arg-type]


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


def attack(name: str, owner: str = "hostile") -> Callable[[Callable[[Lab], None]], Callable[[Lab], None]]:
    def add(fn: Callable[[Lab], None]) -> Callable[[Lab], None]:
        ATTACKS.append((name, owner, fn))
        return fn

    return add


def set_cfee_index(folder: Path, row: int, index: str) -> None:
    lines = (folder / "label.csv").read_text().splitlines()
    lines[row] = ",".join([index, *lines[row].split(",")[1:]])
    (folder / "label.csv").write_text("\n".join(lines) + "\n")


@attack("episodes-upper-bound", "protocol")
def _(lab: Lab) -> None:
    refused(lab.run("--episodes", "1000000000", "--out", "s", timeout=QUICK_S), "episodes")


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
    expect(len(before) > 600, "table too small to test truncation")
    refused(lab.cli("report", "--results", str(store), "--out", str(table), file_limit=512), "cannot write")
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


@attack("plot-out-unwritable")
def _(lab: Lab) -> None:
    (lab.home / "a-file").write_text("x")
    refused(lab.cli("plot", "shots", "--results", str(lab.store()), "--split", "CFEE_B", "--out", "a-file/f.png"),
            "cannot write")  # fmt: skip


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


@attack("seed-negative")
def _(lab: Lab) -> None:
    refused(lab.run("--seed", "-1", "--out", "s"), r"--seed must be")


@attack("seed-huge")
def _(lab: Lab) -> None:
    refused(lab.run("--seed", "100000000000000000000000", "--out", "s"), r"--seed must be")


@attack("device-cuda-without-gpu")
def _(lab: Lab) -> None:
    result = lab.run("--device", "cuda:0", "--out", "s")
    if result.code == 0:  # this machine has a GPU: the attack does not apply
        return
    refused(result, r"cuda")


@attack("device-garbage")
def _(lab: Lab) -> None:
    refused(lab.run("--device", "cuda:abc", "--out", "s"), r"--device")


@attack("negative-lr")
def _(lab: Lab) -> None:
    refused(lab.run("--set", "train.lr=-1", "--out", "s"), r"train.lr")


@attack("nan-weight-decay")
def _(lab: Lab) -> None:
    refused(lab.run("--set", "train.weight_decay=nan", "--out", "s"), r"train.weight_decay")


@attack("val-fraction-2")
def _(lab: Lab) -> None:
    refused(lab.run("--set", "train.val_fraction=2.0", "--out", "s"), r"train.val_fraction")


@attack("checkpoint-every-0-resume")
def _(lab: Lab) -> None:
    refused(lab.run("--set", "train.checkpoint_every=0", "--resume", "--out", "s"), r"train.checkpoint_every")


@attack("binary-config")
def _(lab: Lab) -> None:
    (lab.home / "c.toml").write_bytes(bytes(range(256)) * 8)
    refused(lab.run("--config", "c.toml", "--out", "s"), r"c.toml")


@attack("toml-wrong-shapes")
def _(lab: Lab) -> None:
    cases = {
        "run = 5\n": r"\[run\]",
        "[method]\nprotonet = 3\n": r"protonet",
        "[run]\ntrain_on = 5\n": r"train_on",
        "[method.protonet.profiles.quick]\ntrain = 5\n": r"train",
    }
    for text, pattern in cases.items():
        (lab.home / "c.toml").write_text(text)
        refused(lab.run("--config", "c.toml", "--out", "s", timeout=QUICK_S), pattern)
    refused(lab.run("--set", "data_paths=5", "--out", "s"), r"data_paths")
    refused(lab.run("--set", "train_on=[1]", "--out", "s"), r"train_on")


@attack("sweep-file-wrong-shape", "slurm")
def _(lab: Lab) -> None:
    (lab.home / "s.toml").write_text("sweep = 3\n")
    refused(lab.cli("sweep", "--config", "s.toml", "--out", "s", "--dry-run"), r"sweep")


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


@attack("way-0-message")
def _(lab: Lab) -> None:
    refused(lab.run("--way", "0", "--out", "s"), r"at least 2", absent=("at least 1",))


@attack("set-train-way-1-names-it")
def _(lab: Lab) -> None:
    refused(lab.run("--set", "train.way=1", "--out", "s"), r"train.way")


@attack("option-on-method-without-options")
def _(lab: Lab) -> None:
    refused(lab.run("--set", "option.nope=1", "--out", "s"), r"no options", absent=("(valid: )",))


@attack("profile-paper-on-protonet")
def _(lab: Lab) -> None:
    result = lab.run("--profile", "paper", "--out", "s")
    readme = (ROOT / "README.md").read_text()
    refused(result, r"profiles: quick")
    expect("`protonet` and `pixels`" in readme, "the README still says every method has a paper profile")


@attack("min-per-class-huge-message")
def _(lab: Lab) -> None:
    refused(lab.run("--min-per-class", "100000", "--out", "s"), r"min-per-class", absent=("--way 0",))


@attack("empty-out")
def _(lab: Lab) -> None:
    refused(lab.run("--out", ""), r"--out", absent=("saved under /records",))


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


def replay(base: Path, name: str, owner: str, fn: Callable[[Lab], None]) -> tuple[str, str, bool, str, float]:
    start = time.monotonic()
    try:
        fn(Lab(base, base / "attacks" / name))
        return name, owner, True, "", time.monotonic() - start
    except Failed as exc:
        return name, owner, False, str(exc), time.monotonic() - start
    except Exception as exc:  # the script's own trouble: report it as a failure of the attack
        return name, owner, False, f"{type(exc).__name__}: {exc}", time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=os.environ.get("FSFER_DATA", str(ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--jobs", type=int, default=3, help="attacks replayed at once")
    parser.add_argument("--only", nargs="*", help="replay only these attacks")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    shared = Path(args.data_root)
    if not all((shared / f).is_dir() for f in DATASETS.values()):
        raise SystemExit(f"the shared datasets ({', '.join(DATASETS.values())}) are not under {shared}")
    chosen = [a for a in ATTACKS if not args.only or a[0] in args.only]
    base = Path(tempfile.mkdtemp(prefix="fsfer-faults-"))
    start = time.monotonic()
    try:
        set_up(base, shared)
        print(f"set-up: {time.monotonic() - start:.0f}s; replaying {len(chosen)} attacks in {base}", flush=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            outcomes = list(pool.map(lambda a: replay(base, *a), chosen))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    for name, owner, ok, why, seconds in outcomes:
        print(f"{'PASS' if ok else 'FAIL'}  {name:<36} {owner:<10} {seconds:5.0f}s  {why}")
    failed = sum(not o[2] for o in outcomes)
    print(f"{len(outcomes) - failed} passed, {failed} failed, in {time.monotonic() - start:.0f}s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
