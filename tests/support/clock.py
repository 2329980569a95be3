"""The frozen clock of pilot tests and snapshots: the demo municipality's "now"."""

from iplos_tui.sandbox.demo import DEMO_NOW

FROZEN_NOW = DEMO_NOW
