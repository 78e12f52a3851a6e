"""The README's code runs: every ```python block is executed, as written, in a fresh interpreter.

Blocks run against the simulated venues (``hedge_fsm.sim``). A block that needs real
exchange credentials (it builds a ``CcxtVenue``) runs with made-up credentials in its
environment variables and the network stubbed out: building venues and an engine must
work offline, and nothing may try to connect. The ```toml block is loaded as a
``HedgeConfig``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hedge_fsm import HedgeConfig

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    """The README's fenced blocks of ``language``, in order."""
    text = README.read_text(encoding="utf-8")
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def needs_credentials(block: str) -> bool:
    return "CcxtVenue.from_credentials(" in block


# Made-up credentials for every os.environ["..."] a block reads, and no network at all:
# any attempt to open a connection fails the block.
_OFFLINE = """
import os, socket
for _name in {names!r}:
    os.environ[_name] = "readme-test-" + _name.lower()
def _no_network(*args, **kwargs):
    raise AssertionError("a README block tried to reach the network")
socket.socket.connect = _no_network
socket.create_connection = _no_network
"""

# After a block: what it left behind, for the assertions.
_REPORT = """
import json as _json
_found = {{}}
_result = globals().get("result")
if _result is not None and hasattr(_result, "state"):
    _found["state"] = _result.state
    _found["legs"] = [[leg.venue, leg.symbol, str(leg.filled_quantity)] for leg in _result.legs]
_engine = globals().get("engine")
if _engine is not None:
    _found["venues"] = {{key: type(venue).__name__ for key, venue in _engine.venues.items()}}
_book = globals().get("book")
if _book is not None:
    _found["book"] = [str(_book.bid), str(_book.ask)]
print("@@README@@" + _json.dumps(_found))
"""


def run_block(block: str) -> tuple[str, dict[str, object]]:
    """Execute one block in a fresh interpreter; its output and what it left behind."""
    import json

    preamble = ""
    if needs_credentials(block):
        preamble = _OFFLINE.format(names=sorted(set(re.findall(r'os\.environ\["(\w+)"\]', block))))
    done = subprocess.run(
        [sys.executable, "-c", preamble + block + _REPORT.format()],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, f"README block failed:\n{block}\n{done.stderr}"
    output, _, report = done.stdout.rpartition("@@README@@")
    return output, json.loads(report)


PYTHON_BLOCKS = blocks("python")


def test_the_readme_has_python_blocks_to_run() -> None:
    """The extraction finds the embedding, simulated-market, logging and ccxt examples."""
    assert len(PYTHON_BLOCKS) >= 4
    assert any("HedgeEngine" in b and "execute" in b for b in PYTHON_BLOCKS)
    assert any(needs_credentials(b) for b in PYTHON_BLOCKS)


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_every_python_block_of_the_readme_runs(index: int) -> None:
    """Each block runs as written and does what its text says (per kind of block)."""
    block = PYTHON_BLOCKS[index]
    output, found = run_block(block)
    if needs_credentials(block):
        assert found["venues"] and set(found["venues"].values()) == {"CcxtVenue"}  # type: ignore[union-attr]
    elif "engine.execute" in block:
        # The sizes pass every venue minimum: the simulated hedge completes and fills both legs.
        assert found["state"] == "done", output
        assert output.splitlines()[0] == "done"
        assert all(filled != "0" for _, _, filled in found["legs"])  # type: ignore[union-attr]
        assert "contracts at" in output and "tokens" in output
    elif "logger.enable" in block:
        # Enabled before the library's import, the hedge's records still reach the sink.
        assert "ended done net exposure 0" in output
    elif "best_bid_offer" in block:
        bid, ask = found["book"]  # type: ignore[misc]
        assert f"PEPEUSDT {bid} {ask}" in output


def test_the_embedding_example_prints_why_a_hedge_did_not_complete() -> None:
    """With an entry that times out at once, the README's example prints the state and the reason."""
    (example,) = [b for b in PYTHON_BLOCKS if "engine.execute" in b]
    assert "HedgeConfig()" in example
    impatient = example.replace(
        "HedgeConfig()", "HedgeConfig(entry_timeout=0.001, entry_poll_interval=0.001)"
    )
    output, found = run_block(impatient)
    assert found["state"] == "cancelled"
    lines = output.splitlines()
    assert lines[0] == "cancelled"
    assert lines[1].startswith("not completed: ") and lines[1] != "not completed: None", lines


def test_the_readme_config_example_loads_as_a_hedge_config() -> None:
    """The ```toml block is a valid HedgeConfig whose values are the ones it shows."""
    (toml,) = blocks("toml")
    config = HedgeConfig.from_mapping(tomllib.loads(toml))
    data = tomllib.loads(toml)
    assert config.opening.max_attempts == data["opening"]["max_attempts"]
    assert config.closing.budget == data["closing"]["budget"]


def test_the_readme_cites_only_docs_the_project_has_and_no_stale_suite_time() -> None:
    """No reference to a DESIGN.md the project lacks; the design doc it cites exists; not "30 s"."""
    text = README.read_text(encoding="utf-8")
    assert "DESIGN.md" not in text
    assert "docs/design.md" in text and (ROOT / "docs" / "design.md").is_file()
    assert "about 30 s" not in text  # the suite stopped taking 30 s long ago: the figure is measured
