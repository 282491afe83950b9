"""Facts about the process a run trains in, when `accelerate launch` started several.

A leaf: it imports nothing of the workbench, so that training code (which needs
to know its rank) and the launcher (which starts the processes) can both use it.
"""

import os


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def launched() -> bool:
    """True inside the processes `accelerate launch` started for several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def cpu_processes() -> bool:
    """Launched processes on a machine without GPUs: accelerate must be told to use the CPU,
    or it sees no distributed setup and each process trains alone."""
    import torch

    return launched() and not torch.cuda.is_available()


def shared(value_on_main):
    """A value the main process makes (a run id), handed to every launched process."""
    if not launched():
        return value_on_main()
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    state = PartialState(cpu=cpu_processes())  # the state the Trainer will find
    box = [value_on_main() if state.is_main_process else None]
    broadcast_object_list(box)
    return box[0]
