"""python -m faultsim_desktop.cli"""
import sys

from .main import run

sys.exit(run())
