"""``python -m faultsim_desktop`` opens the window."""
import sys

from faultsim_desktop.ui.app import main

if __name__ == "__main__":
    sys.exit(main())
