"""A sweep on a local Dask cluster gives exactly the figures of a sweep in this process.

Every cell of a sweep is seeded, so where it runs cannot change it: the test
runs one small grid in-process and on a two-worker local Dask cluster and
compares every row. Skipped when the ``distributed`` extra is not installed.
"""

from __future__ import annotations

import pytest

from hedge_fsm.errors import InvalidValue
from hedge_fsm.sweep import parse_grid, run_sweep

distributed = pytest.importorskip("distributed")


def test_dask_cluster_sweep_equals_in_process_sweep() -> None:
    """Same grid, scenarios and seeds: identical rows (figures, ranks) on the cluster."""
    from hedge_fsm.distributed import dask_executor

    axes = parse_grid(["opening.inside_tick_attempts=1,3"])
    kwargs = dict(scenarios=("calm", "faulty"), seeds=range(1, 7), max_time_to_flat=3.0)
    local = run_sweep(axes, processes=1, **kwargs)  # type: ignore[arg-type]
    seen: list[int] = []
    with dask_executor(workers=2) as executor:
        remote = run_sweep(axes, executor=executor, progress=seen.append, **kwargs)  # type: ignore[arg-type]
    assert remote.rows == local.rows
    assert sum(seen) == 2 * 2 * 6  # every episode of every cell came back


def test_a_local_cluster_needs_a_worker() -> None:
    """Zero workers is refused, naming the count."""
    from hedge_fsm.distributed import dask_executor

    with pytest.raises(InvalidValue, match="got 0"), dask_executor(workers=0):
        pass
