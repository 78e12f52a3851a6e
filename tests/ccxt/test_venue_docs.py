"""The capability table in the docs is the one the profiles and ccxt's data give."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hedge_fsm.venues.ccxt import SUPPORTED_VENUES, capability_table

ROOT = Path(__file__).resolve().parents[2]


def test_docs_and_readme_carry_the_current_capability_table() -> None:
    """docs/venues.md and README.md's ccxt section show the generated table, row for row."""
    table = capability_table()
    docs = (ROOT / "docs" / "venues.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert table in docs, "docs/venues.md is stale: paste hedge_fsm.venues.ccxt.capability_table()"
    assert table in readme, "README.md's ccxt section is stale"
    assert len(table.splitlines()) == len(SUPPORTED_VENUES) + 2


def test_every_supported_venue_has_its_own_profile_and_a_ccxt_class() -> None:
    """No venue in the table falls back to the generic profile."""
    import ccxt.async_support as ccxt

    from hedge_fsm.venues._ccxt_profiles import PROFILES, profile_for

    for exchange_id in SUPPORTED_VENUES:
        exchange = getattr(ccxt, exchange_id)({})
        assert profile_for(exchange).family in PROFILES, exchange_id


def test_importing_the_adapter_without_ccxt_names_the_install_command() -> None:
    """Without ccxt, the import fails with the extra's install command, not a bare error."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ccxt' or name.startswith('ccxt.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n"
        "    import hedge_fsm.venues.ccxt\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True
    )
    assert 'pip install "hedge-fsm[ccxt]"' in done.stdout, done.stdout + done.stderr
