"""Plots of a DAIS search: widths per group and alpha trajectories.

`DAISCallback(plot_dir=...)` writes both when `fit` ends (see
`DAISCallback.plot_widths` / `plot_alphas`). Needs matplotlib
(`pip install 'dais-keras[plot]'`).
"""

import numpy as np


def pyplot():
    """`matplotlib.pyplot` on a non-interactive backend."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            "Plotting needs matplotlib: pip install 'dais-keras[plot]'."
        ) from e
    return plt


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return path


def plot_widths(path, names, sizes, kept, title):
    """Writes a bar chart of every group's width: original vs kept.

    Args:
        path: The image file to write (e.g. `widths.png`).
        names: A name per group.
        sizes: Original channels per group.
        kept: Kept channels per group.
        title: The chart's title.

    Returns:
        `path`.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(sizes) + 2), 4))
    pos = np.arange(len(sizes))
    ax.bar(pos, sizes, color="#cccccc", label="original")
    ax.bar(pos, kept, color="#1f77b4", label="kept")
    ax.set_xticks(pos)
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_ylabel("channels")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def plot_alphas(path, trace, sizes):
    """Writes recorded alpha trajectories, one line per channel, coloured
    by group.

    Args:
        path: The image file to write (e.g. `alphas.png`).
        trace: `(step, alphas)` pairs, `alphas` concatenated over groups.
        sizes: Channels per group, in the order of `alphas`.

    Returns:
        `path`.
    """
    plt = pyplot()
    steps = np.array([s for s, _ in trace])
    values = np.stack([a for _, a in trace])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    cmap = plt.get_cmap("tab10")
    start = 0
    for i, size in enumerate(sizes):
        ax.plot(steps, values[:, start:start + size], color=cmap(i % 10),
                linewidth=0.5, alpha=0.6)
        start += size
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("search step")
    ax.set_ylabel("alpha")
    ax.set_title("DAIS indicator logits (one line per channel, colour = group)")
    return _save(fig, path)
