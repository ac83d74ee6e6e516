"""`python -m desktop_app` opens the GUI (same as `quantdesk` with no arguments)."""

import sys

from desktop_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
