"""Choosing the channels to keep: the pruning problem, the band search that fits a
budget, importance scores, baselines and the binarisation repair."""
