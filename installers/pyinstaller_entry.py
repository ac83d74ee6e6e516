"""Entry point of the frozen QuantDesk executable (PyInstaller runs this file as ``__main__``).

Model workers are spawned processes. In a frozen build there is no ``python`` to spawn, so
multiprocessing starts this same executable with ``--multiprocessing-fork`` (and its resource
tracker with ``-c ...``); ``freeze_support()`` must turn such a child into the worker before
anything parses the command line. It is a no-op in the parent.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()

    from desktop_app.cli import main

    sys.exit(main())
