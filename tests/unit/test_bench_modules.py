"""Every benchmark module imports: a bench that no longer starts (a name moved in a refactor)
is found here, not by the next person who needs its figures."""

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(info.name for info in pkgutil.iter_modules(bench.__path__)
                 if info.name != "__main__")  # (runs the bench when imported)


def test_the_benches_are_found() -> None:
    assert {"board_events", "board_view", "e2e", "triage_text", "same_work_chain"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
