"""Progress lines for the phases that do not run inside `fit`.

The search and the fine-tune report through Keras' own progress bar (their
`fit`'s `verbose`); the other phases that can take minutes (building a
latency table, calibrating a latency model, exporting and checking a file)
report through `Progress`, in the look of Keras' bar, one line per update so
that logs stay readable:

    [latency table tflite] 12/40 ━━━━━━────────────── 31s, about 1:20 left: conv 3x3 ...

A phase is a loop of `total` steps (or of steps of unknown number, `None`).
`verbose` follows Keras: 0 (or `False`) prints nothing, 1 or 2 (or `True`) a
line per step and a closing line. `"auto"` prints nothing while the phase is
short, a line whenever `every` seconds (10 by default) have passed since
its last line, and a closing line with its time if it took longer than
that: a long phase is never silent for more than about `every` seconds
after a step, and a quick one adds no noise.
"""

import time

# The clock of every phase (tests replace it with a fake one).
_clock = time.perf_counter

_BAR_WIDTH = 20


def _duration(seconds):
    """`7s`, `1:20` or `1:02:03`, as Keras' progress bar writes them."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


class Progress:
    """Reports the steps of one phase of a computation.

    Args:
        label: The phase, printed in brackets, e.g. `"latency table"`.
        total: The number of steps, or `None` when unknown (no bar and no
            time left).
        verbose: `"auto"` (a line at most every `every` seconds, and a
            closing line for a phase longer than that), a true value (a line
            per step) or a false one (silent).
        every: Seconds between two lines in `"auto"` mode.

    Example:

    ```python
    progress = Progress("latency table", len(probes))
    for i, probe in enumerate(probes):
        measure(probe)
        progress.step(i + 1, probe.description)
    progress.done(f"{len(probes)} layer configurations")
    ```
    """

    def __init__(self, label, total, verbose="auto", every=10.0):
        self.label = label
        self.total = None if total is None else int(total)
        self.verbose = verbose
        self.every = float(every)
        self.start = self.last = _clock()

    def _due(self, now):
        if self.verbose == "auto":
            return now - self.last >= self.every
        return bool(self.verbose)

    def line(self, done, text="", now=None):
        """The progress line after `done` steps."""
        elapsed = (_clock() if now is None else now) - self.start
        timing = _duration(elapsed)
        head = f"[{self.label}]"
        if self.total:
            filled = min(_BAR_WIDTH, int(_BAR_WIDTH * done / self.total))
            bar = "━" * filled + "─" * (_BAR_WIDTH - filled)
            head += f" {done}/{self.total} {bar}"
            if 0 < done < self.total:
                timing += f", about {_duration(elapsed / done * (self.total - done))} left"
        detail = f": {text}" if text else ""
        return f"{head} {timing}{detail}"

    def step(self, done, text=""):
        """Prints the progress after `done` steps, if a line is due."""
        now = _clock()
        if not self._due(now):
            return
        print(self.line(done, text, now), flush=True)
        self.last = now

    def done(self, text=""):
        """Closes the phase: prints its time if it was long (or verbose).

        Returns:
            The seconds the phase took.
        """
        elapsed = _clock() - self.start
        if self.verbose == "auto" and elapsed >= self.every or (
            self.verbose and self.verbose != "auto"
        ):
            detail = f": {text}" if text else ""
            print(f"[{self.label}] done in {elapsed:.1f} s{detail}", flush=True)
        return elapsed
