"""Experiments: YAML configs, the run driver shared by the CLI, the demo and the
benchmarks."""
