"""The job manager: trains runs in background threads, one at a time.

One instance per server process (the UI reaches it through an
`st.cache_resource` getter). Its API is deliberately narrow (start / stop /
active) so that a subprocess runner can sit behind it later. The training
thread never touches the UI: it writes to SQLite through its own connection.
"""

import shutil
import threading
from pathlib import Path

from core import engine, paths
from core.config import TrainConfig
from core.errors import WorkbenchError
from storage import queries
from storage.db import connect


class JobManager:
    def __init__(self, db_path: Path):
        self.db_path = db_path
        self._lock = threading.Lock()
        self._run_id: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # A new manager means a new server process: whatever the last one was
        # running died with it, and must not look alive.
        self.interrupted = queries.mark_interrupted(connect(db_path))

    def start(self, config: TrainConfig) -> str:
        """Check the config (raises WorkbenchError, nothing written), then train it in the background."""
        with self._lock:
            if self._run_id is not None:
                raise WorkbenchError(f"run {self._run_id} is still training; one run trains at a "
                                     "time: wait for it to finish or stop it")
            prepared = engine.prepare(config)
            run_id = queries.create_run(connect(self.db_path), prepared.config.to_dict())
            self._run_id = run_id
            self._stop.clear()
            self._thread = threading.Thread(target=self._work, args=(run_id, prepared),
                                            name=f"run-{run_id}", daemon=True)
            self._thread.start()
            return run_id

    def stop(self, run_id: str) -> bool:
        """Ask the run to stop after its current step; False if it is not the one training."""
        with self._lock:
            if run_id != self._run_id:
                return False
            self._stop.set()
            return True

    def delete(self, run_id: str) -> None:
        """Remove a finished run: its rows and its folder under $WORKBENCH_HOME."""
        with self._lock:
            if run_id == self._run_id:
                raise WorkbenchError(f"run {run_id} is training; stop it before deleting it")
            queries.delete_run(connect(self.db_path), run_id)
            shutil.rmtree(paths.run_dir(run_id), ignore_errors=True)

    def active(self) -> str | None:
        """The id of the run training now, if any."""
        return self._run_id

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current run's thread ends (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _work(self, run_id: str, prepared: engine.Prepared) -> None:
        try:
            engine.execute(connect(self.db_path), run_id, prepared, self._stop.is_set)
        except Exception as error:  # execute stores its own failures; this is the database failing
            queries.finish_run(connect(self.db_path), run_id, "failed",
                               error=f"{type(error).__name__}: {error}")
        finally:
            with self._lock:
                self._run_id = None
