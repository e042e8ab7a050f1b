"""Small shared helpers with no knowledge of pruning: functional-graph traversal,
atomic files, cache paths, argument checks, registries, machine info, timing."""
