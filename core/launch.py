"""Runs beyond one process: `accelerate launch` for several devices or machines.

A run asks for it with `processes` above 1 or an `accelerate_config` file (FSDP,
DeepSpeed, several machines). It then trains as
`accelerate launch [--config_file F] [--num_processes N --multi_gpu] -m core train
--config run.yaml`: every process trains (the Trainer wraps the model in DDP, or
what the accelerate config says), and only the main process writes to SQLite,
exactly as a one-process worker does, so pages and the CLI cannot tell the two apart. The
job manager starts it as any other worker (core.jobs), with this command line.

`--multi_gpu` starts one process per device through torchrun; on a machine
without GPUs it gives DDP over gloo on the CPU. (Plain `--cpu --num_processes N`
starts a single process unless MPI is set up.)
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from core import methods
from core.config import TrainConfig
from core.errors import WorkbenchError

LOG_FILE = "log.txt"
ROOT = Path(__file__).resolve().parents[1]  # where `-m core` is found


def in_subprocess(config: TrainConfig) -> bool:
    return config.processes > 1 or bool(config.accelerate_config)


def check_launch(config: TrainConfig) -> None:
    """Refuse, before anything is written, a launch that cannot work."""
    if not in_subprocess(config):
        return
    if not methods.get(config.method).hf_trainer:  # the Trainer knows DDP; a plain loop does not
        raise WorkbenchError(f"method '{config.method}' trains in one process; several processes "
                             f"or an accelerate config need {', '.join(methods.trainer_methods())}")
    if config.accelerate_config:
        check_accelerate_config(Path(config.accelerate_config))
    import torch

    devices = torch.cuda.device_count()
    if devices and config.processes > devices:
        raise WorkbenchError(f"{config.processes} processes need {config.processes} GPUs; this "
                             f"machine has {devices}")
    cores = os.cpu_count() or 1
    if not devices and config.processes > cores:  # each would want a core of its own
        raise WorkbenchError(f"{config.processes} processes on the CPU need {config.processes} "
                             f"cores; this machine has {cores}")


def check_accelerate_config(path: Path) -> None:
    """An accelerate config is a YAML (or JSON) mapping; anything else would fail inside
    `accelerate launch`, after a launch file was written."""
    import yaml

    from core.config import read_small_file

    if not path.exists():
        raise WorkbenchError(f"accelerate config file not found: {path}")
    try:
        data = yaml.safe_load(read_small_file(path))
    except (WorkbenchError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise WorkbenchError(f"accelerate config {path} cannot be read: "
                             f"{' '.join(str(error).split())[:200]}") from None
    if not isinstance(data, dict):
        raise WorkbenchError(f"accelerate config {path} is not a mapping of settings (make one "
                             "with `accelerate config`)")


def launch_argv(config: TrainConfig, config_file: str, *train_args: str,
                accelerate: str = "accelerate") -> list[str]:
    argv = [accelerate, "launch"]
    if config.accelerate_config:
        argv += ["--config_file", config.accelerate_config]
    if config.processes > 1:
        argv += ["--num_processes", str(config.processes)]
        if not config.accelerate_config:
            argv.append("--multi_gpu")
    return argv + ["-m", "core", "train", "--config", config_file, *train_args]


def command_line(config: TrainConfig, config_file: str = "run.yaml") -> str:
    """What a terminal runs to train this config."""
    if in_subprocess(config):
        return shlex.join(launch_argv(config, config_file))
    return shlex.join(["python", "-m", "core", "train", "--config", config_file])


def accelerate_executable() -> str:
    """The `accelerate` beside this interpreter (the venv's), else the one on the PATH."""
    local = Path(sys.executable).parent / "accelerate"
    return str(local) if local.exists() else "accelerate"


def run_file(config: TrainConfig, run_id: str | None) -> Path:
    """The run.yaml a launch reads: in the run's folder, or (no run yet) under launches/."""
    from core import paths
    from core.config import to_yaml
    from storage.queries import new_run_id

    path = (paths.run_dir(run_id) / "run.yaml" if run_id
            else paths.inside_home("launches", f"{new_run_id()}.yaml"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(config), encoding="utf-8")
    return path


def launch_argv_for(config: TrainConfig, run_id: str | None) -> list[str]:
    run_args = ("--run-id", run_id) if run_id else ()
    return launch_argv(config, str(run_file(config, run_id)), *run_args,
                       accelerate=accelerate_executable())


def launch_from_terminal(config: TrainConfig, run_id: str | None) -> int:
    """`python -m core train` of a run that needs several processes: launch it, output here."""
    return subprocess.call(launch_argv_for(config, run_id))


def log_tail(log_path: Path, lines: int = 200) -> str:
    if not log_path.exists():
        return ""
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
