"""`workbench`, the installed console script: `workbench app` serves the UI, `workbench train …`
is `python -m core train …`, and so on for every command of the CLI.

Installed, the project's folders (core, ui, storage, app_pages) live inside the `workbench`
package and import one another by their short names, so this puts the package's folder
first on the path before anything of the workbench is imported. Run from a checkout, it is
the checkout's folder, and nothing changes.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    # Processes the workbench starts (the server, accelerate launches) find it too.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT),
                                                             os.environ.get("PYTHONPATH")]))
    from core.cli import main as cli_main

    return cli_main(argv, prog="workbench")


if __name__ == "__main__":
    sys.exit(main())
