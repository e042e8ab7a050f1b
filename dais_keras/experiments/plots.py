"""The plots of a run folder: per-epoch histories and kept widths."""

from dais_keras.utils import plotting

HISTORY_KEYS = ("loss", "accuracy", "dais_macs", "dais_T")


def plot_history(history, path, title):
    """One panel per logged metric of `HISTORY_KEYS`, against the epoch.
    Writes nothing without matplotlib or history."""
    keys = [k for k in HISTORY_KEYS if k in (history or {})]
    if not keys or not plotting.can_plot():
        return None
    fig = plotting.figure((4 * len(keys), 3))
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        ax.plot(range(1, len(history[key]) + 1), history[key], marker="o")
        ax.set_xlabel("epoch")
        ax.set_title(key)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def plot_group_widths(groups, path, title, log):
    """`widths.png` of a selection's `groups` (`name`, `size`, `kept`); says
    through `log` when matplotlib is missing."""
    if not plotting.can_plot():
        log("(no plots: matplotlib is not installed; pip install 'dais-keras[plot]')")
        return None
    return plotting.plot_widths(path, [g["name"] for g in groups], [g["size"] for g in groups],
                                [g["kept"] for g in groups], title, dpi=100)
