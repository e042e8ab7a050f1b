"""Choosing the channels to keep.

    problem.py     the pruning problem: prunable groups, their cost, allowed widths
    band.py        the band search that fits widths into a budget band
    guarantee.py   what is said when a budget or band cannot be met
    importance.py  importance scores: per-channel weight norms (a registry)
    repair.py      the binarisation repair of a DAIS search model
    baselines/     the baseline methods (registry), `select`, `prune`, their report
"""
