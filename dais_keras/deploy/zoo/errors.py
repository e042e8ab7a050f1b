"""The errors of the zoo: a file that is not what the index says, an index
that does not follow the schema, a download that did not arrive."""


class ZooIntegrityError(ValueError):
    """A zoo file is missing, or its size or sha256 is not the recorded one.

    Attributes:
        key: The entry's `name@version` (`None` for a report of many).
        expected: The recorded sha256.
        actual: The sha256 of the file found (`None` if there is no file,
            or if a download was stopped for being larger than recorded).
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


class ZooDownloadError(OSError):
    """The weights of a URL entry could not be downloaded.

    Attributes:
        key: The entry's `name@version`.
        url: The URL that failed.
    """

    def __init__(self, message, key=None, url=None):
        super().__init__(message)
        self.key = key
        self.url = url
