"""The evaluation loops' progress bar: tqdm's when asked for and installed, else a silent one."""

from __future__ import annotations


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def optional_bar(enabled: bool, total: int, desc: str, unit: str):
    """A tqdm bar over ``total`` steps when ``enabled`` and tqdm is installed; otherwise an
    object with the same ``update``/``close`` that shows nothing (the loops run the same)."""
    if enabled:
        try:
            import tqdm
        except ImportError:
            return _NoBar()
        return tqdm.tqdm(total=total, desc=desc, unit=unit, leave=False)
    return _NoBar()
