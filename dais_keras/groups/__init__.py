"""Channel groups of a functional model: which channels must be removed together,
which are frozen and why, and the per-layer-type handlers that decide it."""
