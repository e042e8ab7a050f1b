"""Progress lines for long computations that are otherwise silent.

A phase is a loop of `total` steps (e.g. the layer configurations a latency
table measures). With `verbose="auto"` a phase prints nothing while it is
short, a line whenever `every` seconds (10 by default) have passed since its
last line, and a closing line with its time if it took longer than that: a
long phase is never silent for more than about `every` seconds, and a
quick one adds no noise. `verbose=1` prints every step, `verbose=0` nothing.
"""

import time

# The clock of every phase (tests replace it with a fake one).
_clock = time.perf_counter


class Progress:
    """Reports the steps of one phase of a computation.

    Args:
        label: The phase, printed in brackets, e.g. `"latency table"`.
        total: The number of steps.
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
        self.total = int(total)
        self.verbose = verbose
        self.every = float(every)
        self.start = self.last = _clock()

    def _due(self, now):
        if self.verbose == "auto":
            return now - self.last >= self.every
        return bool(self.verbose)

    def step(self, done, text=""):
        """Prints the progress after `done` steps, if a line is due."""
        now = _clock()
        if not self._due(now):
            return
        elapsed = now - self.start
        timing = f"{elapsed:.0f} s"
        if 0 < done < self.total:
            timing += f", about {elapsed / done * (self.total - done):.0f} s left"
        detail = f" {text}" if text else ""
        print(f"[{self.label}] {done}/{self.total}{detail} ({timing})", flush=True)
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
