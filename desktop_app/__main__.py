"""`python -m desktop_app` opens the GUI (same as `quantdesk` with no arguments)."""

import multiprocessing
import sys

from desktop_app.cli import main

if __name__ == "__main__":
    # A frozen build starts its model workers by running this executable again; the child
    # must become the worker here, before any argument parsing (a no-op when not frozen).
    multiprocessing.freeze_support()
    sys.exit(main())
