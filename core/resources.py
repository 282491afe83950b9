"""What a run's process uses while it trains, sampled with each metrics row (so a run on a
Ray cluster sends it back like any other column): CPU, memory, and GPU memory where there
is a GPU. The live panel says it in a line; the metrics table keeps its history."""

import sys

import psutil

COLUMNS = ("cpu_percent", "memory_gib", "gpu_memory_gib")


class Sampler:
    """This process's use since the last sample (CPU) or now (memory)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # the first call starts the interval the next measures

    def __call__(self) -> dict[str, float]:
        row = {"cpu_percent": self.process.cpu_percent(None),
               "memory_gib": self.process.memory_info().rss / 2**30}
        torch = sys.modules.get("torch")  # (only where the run imported it)
        if torch is not None and torch.cuda.is_available():
            row["gpu_memory_gib"] = torch.cuda.memory_reserved() / 2**30
        return row


def line(row: dict) -> str | None:
    """"CPU 187 % of 200 % (2 cores) · memory 1.42 GiB · GPU memory 3.10 GiB" from a metrics
    row; None for a row without them (a run from before they were sampled)."""
    if row.get("cpu_percent") is None:
        return None
    cores = psutil.cpu_count() or 1
    parts = [f"CPU {row['cpu_percent']:.0f} % of {100 * cores} % ({cores} cores)",
             f"memory {row['memory_gib']:.2f} GiB"]
    if row.get("gpu_memory_gib") is not None:
        parts.append(f"GPU memory {row['gpu_memory_gib']:.2f} GiB")
    return " · ".join(parts)
