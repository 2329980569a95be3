"""The console's core: plain functions and dataclasses, no Textual import (a test proves it)."""
