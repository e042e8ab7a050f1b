"""The built-in `dais` commands, one module per command family.

Each module lists its commands in `COMMANDS`: dicts of `name`, `help`,
`configure(parser)`, `run(args) -> exit code` and `description` (text, or a
function returning it, evaluated only when the help is shown), which
`dais_keras.cli` registers. The modules are imported to build the parser, so
they import Keras, TensorFlow and the heavy parts of the library only inside
`run`: `dais --help` stays fast.
"""


class CommandError(RuntimeError):
    """A command failed for a reason the user can act on (exit code 1)."""
