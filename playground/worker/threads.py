"""The worker process's background threads: each started once, on first need, and kept running."""

import threading
from collections.abc import Callable

_started: set[str] = set()
_lock = threading.Lock()


def start_once(name: str, target: Callable[[], None]) -> None:
    """Start `target` on a daemon thread called `name`, unless this process already did."""
    with _lock:
        if name in _started:
            return
        _started.add(name)
    threading.Thread(target=target, name=name, daemon=True).start()
