"""A real single-node Slurm for the tests: installed when absent, configured under a temporary folder.

`SlurmCluster(folder).start()` writes a `slurm.conf` naming this host with its
CPUs and one `debug` partition (accounting storage off, as on a cluster without
slurmdbd; no cgroups, which containers rarely allow), starts its own `munged`,
`slurmctld` and `slurmd` on free ports with their sockets, state and logs in
`folder`, points the Slurm commands at it through SLURM_CONF, and waits until
`sinfo` shows the node idle. `stop()` cancels what is left and stops the
daemons. Nothing outside `folder` is touched, so a system Slurm or munge, if
any, is left alone.

`ensure_installed()` installs Debian's `slurm-wlm` and `munge` when they are
missing and this process may (root, apt-get); the `slurm_cluster` fixture in
tests/test_slurm.py skips with the reason when it cannot.

Run by hand to try a sweep against it: `python tests/slurm_cluster.py /tmp/slurm`
starts it and prints the `export SLURM_CONF=...` line; Ctrl-C stops it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun")
#: Seconds Slurm waits between SIGTERM and SIGKILL. submitit's jobs ignore SIGTERM, so a cancel
#: takes this long to stop a task; Slurm's default (30 s) would only slow the tests down.
KILL_WAIT_S = 2


class ClusterUnavailable(Exception):
    """Slurm cannot be installed or started here; the message says why."""


def ensure_installed(timeout_s: float = 900) -> None:
    """Install slurm-wlm and munge with apt-get when a daemon or client is missing."""
    if _missing() and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "slurm-wlm", "munge"]):
            try:
                done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s)
            except subprocess.TimeoutExpired as exc:
                raise ClusterUnavailable(f"{' '.join(command)} took over {timeout_s:.0f} s") from exc
            if done.returncode != 0:
                raise ClusterUnavailable(f"{' '.join(command)} failed: {_last_line(done.stderr)}")
    missing = _missing()
    if missing:
        raise ClusterUnavailable(f"Slurm is not installed ({', '.join(missing)} missing; needs root and apt-get)")


def _missing() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if _which(name) is None]


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


class SlurmCluster:
    """One node (this host), one `debug` partition, no accounting; everything under `folder`."""

    def __init__(self, folder: str | Path, cpus: int | None = None) -> None:
        self.folder = Path(folder).resolve()
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        self.conf = self.folder / "slurm.conf"
        self.processes: dict[str, subprocess.Popen] = {}
        self._saved_env: str | None = None

    # -- lifecycle

    def start(self, timeout_s: float = 90) -> SlurmCluster:
        """Start munged, slurmctld and slurmd; ClusterUnavailable (with their log's last line) if they fail."""
        for name in ("state", "spool", "log"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        self._start_munge()
        self.conf.write_text(self.config_text())
        self._saved_env = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(self.conf)  # the clients (and the sweep's sbatch, squeue) read it
        try:
            self._spawn("slurmctld", [_which("slurmctld"), "-D", "-c", "-f", str(self.conf)])
            self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf), "-N", self.host])
            self._wait_idle(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Cancel the jobs left, stop the daemons (the ones this object started only), restore SLURM_CONF."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            self._cancel_all()
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._saved_env is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._saved_env

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration

    @property
    def munge_socket(self) -> Path:
        return self.folder / "munge" / "munge.socket"

    def config_text(self) -> str:
        """The single-node configuration (see docs/sweeps.md for what each line is for)."""
        log = self.folder / "log"
        lines = {
            "ClusterName": "fsfer-test",
            "SlurmctldHost": self.host,
            "SlurmctldPort": _free_port(),
            "SlurmdPort": _free_port(),
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket}",
            "StateSaveLocation": self.folder / "state",
            "SlurmdSpoolDir": self.folder / "spool",
            "SlurmctldPidFile": self.folder / "slurmctld.pid",
            "SlurmdPidFile": self.folder / "slurmd.pid",
            "SlurmctldLogFile": log / "slurmctld.log",
            "SlurmdLogFile": log / "slurmd.log",
            "ProctrackType": "proctrack/linuxproc",  # cgroups are rarely usable in a container
            "TaskPlugin": "task/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",  # as without slurmdbd: sacct cannot answer
            "JobCompType": "jobcomp/none",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_CPU",  # one task per CPU at once
            "SchedulerType": "sched/backfill",
            "MpiDefault": "none",
            "ReturnToService": 2,
            "KillWait": KILL_WAIT_S,
            "MinJobAge": 300,  # finished tasks stay in squeue this long, with their final state
            "JobRequeue": 1,
            "SlurmdTimeout": 30,
            "InactiveLimit": 0,
            "SlurmctldDebug": "info",
            "SlurmdDebug": "info",
        }
        text = [f"{key}={value}" for key, value in lines.items()]
        text.append(f"NodeName={self.host} CPUs={self.cpus} State=UNKNOWN")
        text.append(f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP")
        return "\n".join(text) + "\n"

    # -- daemons

    def _start_munge(self) -> None:
        folder = self.munge_socket.parent
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)  # munged refuses a socket folder others may write to
        key = folder / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))  # a secret, not an experiment: no seeded generator
        key.chmod(0o400)
        command = [
            _which("munged"), "--foreground", "--force", f"--socket={self.munge_socket}", f"--key-file={key}",
            f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
            f"--seed-file={folder / 'munged.seed'}",
        ]  # fmt: skip
        self._spawn("munged", command)
        deadline = time.time() + 20
        while not self.munge_socket.exists():
            self._check_alive("munged", folder / "munged.log")
            if time.time() > deadline:
                raise ClusterUnavailable(f"munged did not open {self.munge_socket} within 20 s")
            time.sleep(0.1)

    def _cancel_all(self, timeout_s: float = 30) -> None:
        """Cancel every job and wait until they are gone: slurmd stopped first would leave their processes."""
        subprocess.run(["scancel", "--full", "--partition", "debug"], capture_output=True, timeout=30)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            done = subprocess.run(["squeue", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
            if done.returncode != 0 or not done.stdout.strip():
                return
            time.sleep(0.5)

    def _spawn(self, name: str, command: list[str | None]) -> None:
        log = open(self.folder / "log" / f"{name}.out", "ab")  # noqa: SIM115 - the daemon keeps it
        try:
            self.processes[name] = subprocess.Popen(
                [str(c) for c in command], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the test run is not sent to the daemons
            )  # fmt: skip
        except OSError as exc:
            raise ClusterUnavailable(f"cannot start {name}: {exc}") from exc
        finally:
            log.close()

    def _check_alive(self, name: str, log: Path) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            text += (self.folder / "log" / f"{name}.out").read_text(errors="replace")
            raise ClusterUnavailable(f"{name} exited with status {process.returncode}: {_last_line(text)}")

    def _wait_idle(self, timeout_s: float) -> None:
        deadline = time.time() + timeout_s
        state = ""
        while time.time() < deadline:
            for name in ("slurmctld", "slurmd"):
                self._check_alive(name, self.folder / "log" / f"{name}.log")
            done = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30)
            state = done.stdout.strip() or _last_line(done.stderr)
            if state == "idle":
                return
            time.sleep(0.5)
        raise ClusterUnavailable(f"the node did not become idle within {timeout_s:.0f} s (sinfo: {state})")

    # -- for tests

    def squeue(self) -> str:
        """Every job and array task Slurm still lists, one `id state` per line (for failure messages)."""
        done = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i %T %r"], capture_output=True, text=True)
        return done.stdout or done.stderr

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.folder / "log" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def main(argv: list[str]) -> None:
    folder = Path(argv[0] if argv else "/tmp/fsfer-slurm")
    ensure_installed()
    with SlurmCluster(folder) as cluster:
        print(f"export SLURM_CONF={cluster.conf}   # Ctrl-C stops the cluster", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main(sys.argv[1:])
