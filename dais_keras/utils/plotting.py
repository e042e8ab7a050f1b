"""Plots written to files: one width chart for every part of the library.

Matplotlib is optional (`pip install 'dais-keras[plot]'`). Figures are made
with `matplotlib.figure.Figure`, not `pyplot`, so plotting keeps no global
state and works from any thread.
"""


def figure(figsize):
    """A new `matplotlib.figure.Figure` of `figsize` inches.

    Raises:
        ImportError: If matplotlib is not installed, with the install line.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("Plotting needs matplotlib: pip install 'dais-keras[plot]'.") from e
    return Figure(figsize=figsize)


def can_plot():
    """Whether matplotlib is installed."""
    try:
        figure((1, 1))
    except ImportError:
        return False
    return True


def plot_widths(path, names, sizes, kept, title, dpi=120):
    """Writes a bar chart of every channel group's width: unpruned vs kept.

    Args:
        path: The image file to write (e.g. `widths.png`).
        names: Group names (the x labels).
        sizes: Unpruned widths.
        kept: Kept widths.
        title: The chart's title.
        dpi: Resolution.

    Returns:
        `path`.

    Raises:
        ImportError: If matplotlib is not installed.
    """
    fig = figure((max(6, 0.35 * len(sizes) + 2), 4))
    ax = fig.add_subplot()
    index = list(range(len(sizes)))
    ax.bar(index, list(sizes), color="#cccccc", label="unpruned")
    ax.bar(index, list(kept), color="#1f77b4", label="kept")
    ax.set_xticks(index, list(names), rotation=90, fontsize=7)
    ax.set_ylabel("channels")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path
