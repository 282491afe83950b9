"""The app served as a user runs it, for the browser test and bench/watch_overhead.py."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`streamlit run app.py` on a free local port, over one $WORKBENCH_HOME."""

    def __init__(self, home: Path):
        self.home, self.process, self.url = home, None, None

    def start(self) -> str:
        port = free_port()
        env = {**os.environ, "WORKBENCH_HOME": str(self.home), "HF_HUB_OFFLINE": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1).status == 200:
                    return self.url
            except OSError:
                time.sleep(0.3)
        self.process.kill()
        raise AssertionError("the server did not start within 60 s")

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no clean-up, as in a crash
        self.process.wait(15)

    def stop(self) -> None:
        """End the server and every job on its home: a run's worker outlives its server (a
        restarted server finds it still training), so it is stopped through the queue."""
        stop_jobs(self.home)
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


def stop_jobs(home: Path, timeout: float = 120) -> None:
    """Stop (or cancel) every job working or waiting on `home`, and wait until they end."""
    database = home / "workbench.db"
    if not database.exists():
        return
    code = ("import sys, time\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "from core.jobs import JobManager\n"
            "from core import paths\n"
            "manager = JobManager(paths.db_path(), launch=False)\n"
            "for key in manager.working() + manager.queued(): manager.stop(key)\n"
            f"manager.wait({timeout})\n")
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "WORKBENCH_HOME": str(home)},
                   timeout=timeout + 60, check=False)
