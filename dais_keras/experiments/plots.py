"""The plots of a run folder: per-epoch histories and kept widths (the width
chart is the search's own, `dais_keras.search.plot.plot_widths`)."""

from dais_keras.search.plot import plot_widths
from dais_keras.search.plot import pyplot

HISTORY_KEYS = ("loss", "accuracy", "dais_macs", "dais_T")


def plot_history(history, path, title):
    """One panel per logged metric of `HISTORY_KEYS`, against the epoch.
    Writes nothing without matplotlib or history."""
    keys = [k for k in HISTORY_KEYS if k in (history or {})]
    if not keys:
        return None
    try:
        plt = pyplot()
    except ImportError:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.plot(range(1, len(history[key]) + 1), history[key], marker="o")
        ax.set_xlabel("epoch")
        ax.set_title(key)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_group_widths(groups, path, title, log):
    """`widths.png` of a selection's `groups` (`name`, `size`, `kept`); says
    through `log` when matplotlib is missing."""
    try:
        return plot_widths(path, [g["name"] for g in groups], [g["size"] for g in groups],
                           [g["kept"] for g in groups], title)
    except ImportError:
        log("(no plots: matplotlib is not installed; pip install 'dais-keras[plot]')")
        return None
