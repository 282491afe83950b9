import sys

try:
    from core.cli import main

    sys.exit(main())
except KeyboardInterrupt:  # Ctrl-C while the libraries import: no traceback, nothing written
    print("interrupted; nothing was written", file=sys.stderr)
    sys.exit(130)
