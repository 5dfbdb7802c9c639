"""The long tests first, so that the workers of `pytest -n 4` end together.

pytest-xdist hands tests out in collection order. In file order the reliability
suite, whose cases take from a few seconds to half a minute each, comes near the
end, and one worker was left running the last of them for a minute while the others
had nothing to do. Started first, they are spread over the workers while the
short tests fill the gaps. The order within each group is the file order, the same
on every worker (xdist requires it).
"""

from __future__ import annotations

import pytest


def long_first(item: pytest.Item) -> int:
    return 0 if item.get_closest_marker("reliability") is not None else 1


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=long_first)  # stable: the file order within each group
