"""The core and the CLI path never import Textual; heavy libraries load lazily (CONVENTIONS 1, 17)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import iplos_tui.core


def _imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_core_never_imports_textual():
    modules = [m.name for m in pkgutil.walk_packages(iplos_tui.core.__path__, "iplos_tui.core.")]
    assert modules
    loaded = _imported_after("\n".join(f"import {name}" for name in modules))
    assert not any(name == "textual" or name.startswith("textual.") for name in loaded)


def test_cli_path_never_imports_textual_or_heavy_libraries():
    loaded = _imported_after("from iplos_tui import cli\ncli.build_parser()")
    for heavy in ("textual", "httpx", "pyzipper", "cryptography"):
        assert heavy not in loaded, heavy
    # the rules, the code tables and what they pull in load when a command runs, not for its --help
    for heavy in ("iplos_tui.core.extract.rules", "iplos_tui.core.refdata", "csv", "inspect"):
        assert heavy not in loaded, heavy


def test_config_check_runs_without_textual(tmp_path):
    code = (
        "import sys\nfrom iplos_tui import cli\n"
        f"rc = cli.main(['--config', {str(tmp_path / 'c.toml')!r}, 'config', 'check'])\n"
        "print('TEXTUAL' if any(m.startswith('textual') for m in sys.modules) else 'CLEAN')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip().endswith("CLEAN")
