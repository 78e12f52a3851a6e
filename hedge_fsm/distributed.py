"""Sweeps that outgrow one machine: run the cells on a Dask distributed cluster.

Theory of operation
-------------------
A sweep is many independent cells (configuration × scenario × block of
seeds), each a pure function of its inputs: every episode is seeded, so a cell
gives the same figures wherever it runs. :func:`hedge_fsm.sweep.run_sweep`
takes any :class:`concurrent.futures.Executor`; :func:`dask_executor` gives one
backed by a Dask ``distributed`` cluster — an existing scheduler at
``address``, or a local cluster of worker processes started for the run — and
``run_sweep`` merges the answers in cell order, so the result is identical
whatever the backend (this process, a process pool, a cluster).

Why Dask distributed rather than Ray: it is pure Python (``pip install
hedge-fsm[distributed]`` pulls no multi-hundred-megabyte binary), a local
cluster starts in a second or two inside a test, and its client offers a
standard ``concurrent.futures`` executor, so the sweep needs no second code
path. Ray's actors and object store buy nothing for stateless, CPU-bound
cells that return a few kilobytes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from hedge_fsm.errors import InvalidValue

__all__ = ["dask_executor"]


@contextmanager
def dask_executor(address: str | None = None, *, workers: int = 2) -> Iterator[Executor]:
    """An executor on a Dask cluster: the scheduler at ``address``, or ``workers`` local processes.

    Needs the ``distributed`` extra (``pip install hedge-fsm[distributed]``).
    """
    try:
        # Imported as a plain module: typed or not, it is optional and read at run time only.
        dask: Any = importlib.import_module("distributed")
    except ImportError as exc:
        raise InvalidValue(
            "the Dask backend needs the 'distributed' extra: pip install 'hedge-fsm[distributed]'"
        ) from exc
    if address is None and workers < 1:
        raise InvalidValue(f"a local Dask cluster needs at least one worker, got {workers}")
    cluster: Any = None
    client: Any
    if address is None:
        cluster = dask.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = dask.Client(cluster)
    else:
        client = dask.Client(address)
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
