"""The errors of the zoo: a file that is not what the index says, an index
that does not follow the schema."""


class ZooIntegrityError(ValueError):
    """A zoo file is missing, or its size or sha256 is not the recorded one.

    Attributes:
        key: The entry's `name@version` (`None` for a report of many).
        expected: The recorded sha256.
        actual: The sha256 of the file found (`None` if there is no file).
        path: The file that was checked.
        report: The `VerifyReport`, when raised by `verify()`.
    """

    def __init__(self, message, key=None, expected=None, actual=None, path=None, report=None):
        super().__init__(message)
        self.key = key
        self.expected = expected
        self.actual = actual
        self.path = path
        self.report = report


class ZooSchemaError(ValueError):
    """The zoo index does not follow the schema this library reads."""

