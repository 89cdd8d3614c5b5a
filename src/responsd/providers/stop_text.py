"""Stop sequences for a backend that streams text without them (the embedded model)."""


class StopText:
    """Cuts streamed text before the first stop sequence. A tail that may be the start of
    one is held back until the next piece shows whether it is."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = stops
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """The part of `text` (with what was held back) that is safe to show now."""
        if self.stopped:
            return ""
        pending = self._pending + text
        found = [i for stop in self._stops if (i := pending.find(stop)) >= 0]
        if found:
            self.stopped = True
            self._pending = ""
            return pending[: min(found)]
        keep = max((_overlap(pending, stop) for stop in self._stops), default=0)
        self._pending = pending[len(pending) - keep :]
        return pending[: len(pending) - keep]

    def flush(self) -> str:
        """What was held back, once the text has ended without a stop sequence."""
        rest, self._pending = self._pending, ""
        return rest


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of `text` that begins `stop`."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-size:]):
            return size
    return 0
