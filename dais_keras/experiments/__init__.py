"""Experiments: YAML configs (`schema`, `config`, `run_folder`), what a config
builds (`builders`), one run and its folder (`run`, `plots`), the `dais`
commands (`commands`) and the demo. The pruning sequence itself is
`dais_keras.api.pipeline.run_pipeline`."""
