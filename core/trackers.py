"""`report_to`: the experiment trackers the HF Trainer can also send its logs to."""

import importlib.util

from core.errors import WorkbenchError

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # name: package


def trackers(report_to: str) -> list[str]:
    return [t.strip() for t in report_to.split(",") if t.strip() not in ("", "none")]


def check_trackers(report_to: str) -> None:
    for tracker in trackers(report_to):
        if tracker not in TRACKERS:
            raise WorkbenchError(f"unknown tracker '{tracker}' in report_to; choose from "
                                 f"{', '.join(TRACKERS)} or none")
        if importlib.util.find_spec(TRACKERS[tracker]) is None:
            raise WorkbenchError(f"report_to {tracker} needs its package: pip install "
                                 f"{TRACKERS[tracker]}")
