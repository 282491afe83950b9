"""A real Ray head for the tests: on 127.0.0.1 only, 2 CPUs, started as a child process and
ended by a signal to that child's pid alone (Ray's own stop command would end every Ray
process on the machine, a user's cluster included)."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray binds 127.0.0.1 only


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def head_process():
    """A Ray head as a child process, for the block; its dashboard (Jobs API) address. This
    process (and those it starts) talk to it on loopback only."""
    folder = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Unix socket paths are limited
    port, dashboard = free_port(), free_port()
    env = {**os.environ, **LOOPBACK, "HF_HUB_OFFLINE": "1",
           # the jobs' `python` is this interpreter (the project's environment)
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    output = Path(folder) / "head.txt"  # (a pipe no one reads would fill and block it)
    with open(output, "w") as sink:
        head = subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--port",
             str(port), "--num-cpus", "2", "--object-store-memory", "300000000",
             "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard), "--temp-dir",
             folder, "--disable-usage-stats"],
            env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in output.read_text() and head.poll() is None:
            assert time.monotonic() < deadline, "the Ray head did not start in 120 s"
            time.sleep(0.2)
        assert head.poll() is None, f"the Ray head did not start: {output.read_text()[-2000:]}"
        os.environ.update(LOOPBACK)
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(folder, ignore_errors=True)
