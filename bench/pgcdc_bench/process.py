"""Process accounting through /proc: a benchmarked process (Proc), its CPU and peak RSS, and the
servers' CPU."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from .common import log

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int, children=False) -> float:
    """utime+stime of a live process in seconds (plus reaped children's if asked)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14 -> index 11
    t = int(fields[11]) + int(fields[12])
    if children:
        t += int(fields[13]) + int(fields[14])
    return t / TICK


def jit_cpu(pid: int) -> float:
    """CPU seconds the JVM's JIT compiler threads (C1, C2) of process `pid` have used so far."""
    total = 0.0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            if not (task / "comm").read_text().startswith(("C1 Compiler", "C2 Compiler")):
                continue
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, ValueError, IndexError):
            continue  # a compiler thread may come and go
    return total


def proc_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def write_back_page_cache() -> None:
    """Before each run: the broker's and PostgreSQL's files are on disk, and the previous run left
    up to gigabytes of them dirty in the page cache. The kernel writes those back within about
    30 s, during whichever run comes next, and bills the broker's CPU for it to that system
    (docs/benchmarks.md, "How it measures"). So every run starts with nothing left to write
    back."""
    t0 = time.monotonic()
    os.sync()
    took = time.monotonic() - t0
    if took > 1.0:
        log(f"wrote back the page cache in {took:.1f}s")


def tree_cpu(root_pid: int) -> float:
    """CPU of a server: the root's own and reaped children's time plus its live children's."""
    try:
        total = proc_cpu(root_pid, children=True)
    except OSError:
        return 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == root_pid:
                total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            continue
    return total


class Proc:
    """A benchmarked process: launched in its own session, sampled through /proc."""

    def __init__(self, argv, log_path: Path, env=None, cwd=None, timed=False):
        """timed: run under /usr/bin/time, for processes that end by themselves. wait4()'s
        ru_maxrss of a child forked from this Python process would count Python's own pages
        (they are the child's until exec), so peak RSS comes from /proc/<pid>/status (VmHWM,
        reset by exec) while the process runs, or from GNU time's small fork when timed."""
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.time_file = None
        if timed:
            self.time_file = log_path.with_suffix(".time")
            self.argv = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(self.time_file)] + self.argv
        self.logf = open(log_path, "w")
        self.t_launch = time.time()
        self.p = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT, env=env,
                                  cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.p.pid
        self.cpu = 0.0
        self.hwm_kib = 0
        self.exit_code = None
        self.t_exit = None

    def alive(self) -> bool:
        if self.exit_code is not None:
            return False
        pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self._reaped(status, ru)
        return False

    def _reaped(self, status, ru):
        self.t_exit = time.time()
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.exit_code
        self.cpu = ru.ru_utime + ru.ru_stime
        if self.time_file:
            try:
                _, user, sys_, maxrss = self.time_file.read_text().split()[-4:]
                self.cpu, self.hwm_kib = float(user) + float(sys_), int(maxrss)
            except (OSError, ValueError):
                pass
        self.logf.close()

    def sample(self):
        """Freeze CPU and peak RSS as they are now (the process is still running)."""
        if self.time_file:
            return  # /proc/<pid> is GNU time's; its report at exit has the numbers
        try:
            self.cpu = proc_cpu(self.pid, children=True)
            self.hwm_kib = max(self.hwm_kib, proc_hwm_kib(self.pid))
        except OSError:
            pass

    def wait(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.alive():
                return True
            time.sleep(0.1)
        return False

    def stop(self, grace=30.0):
        """SIGTERM, then SIGKILL after `grace` seconds. CPU/RSS keep their sampled values."""
        if not self.alive():
            return
        cpu, hwm = self.cpu, self.hwm_kib
        if self.time_file:
            cpu = None  # GNU time reports at exit
        try:
            if self.time_file:
                os.killpg(self.pid, signal.SIGTERM)
            else:
                os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not self.wait(grace):
            log(f"pid {self.pid} did not stop in {grace:.0f}s; SIGKILL")
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait(10)
        if cpu is not None:
            self.cpu, self.hwm_kib = cpu, hwm

    def tail(self, n=15) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])
