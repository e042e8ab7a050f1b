"""A versioned, checksummed zoo of pruned models.

The zoo is a directory holding `index.json` (the entries, as data), the
weights (`weights/<name>@<version>.keras`) and a model card per entry
(`cards/<name>@<version>.md`). Entries are keyed `name@version`; versions are
integers and immutable: publishing never overwrites one.

    entry    the schema of an entry, its validation, `name@version` keys
    index    the zoo directory, reading / writing `index.json`, the lock
    store    checksums, downloads into the cache, the safe load, export
    publish  adding an entry; card: its model card
    verify   checking every entry and the files no entry owns; `clean`

The zoo directory is, in order of precedence: the `zoo_dir` argument, the
`DAIS_ZOO_DIR` environment variable, or the repository's `zoo/` directory.
An entry's weights are a `file` inside the zoo directory or a `url`
(http, https or file); downloads go to the cache directory (`cache_dir`
argument, else `cache_dir("zoo")` of `dais_keras.utils.paths`:
`$DAIS_KERAS_CACHE/zoo`, `$DAIS_CACHE_DIR/zoo`, `~/.cache/dais_keras/zoo`).

Loading checks the size and sha256 of the weights before anything else reads
them and loads with safe mode pinned on, so no code from a zoo file ever
runs, even after `keras.config.enable_unsafe_deserialization()`. The index
is strict JSON (no NaN or infinity). The schema is documented in
`zoo/README.md`.

Example:

```python
import dais_keras as dk

for entry in dk.zoo.list():
    print(entry.key, entry.macs, entry.accuracy)
model = dk.zoo.load("resnet56-cifar10-dais50")      # latest version
model = dk.zoo.load("resnet56-cifar10-dais50@1")    # a fixed version
dk.zoo.export("resnet56-cifar10-dais50@1", "m.tflite")
dk.zoo.verify()                                     # checksums, leftovers
dk.zoo.clean()                                      # remove leftovers
```
"""

from dais_keras.deploy.zoo.card import model_card
from dais_keras.deploy.zoo.entry import FIELDS
from dais_keras.deploy.zoo.entry import REQUIRED_FIELDS
from dais_keras.deploy.zoo.entry import SCHEMA_VERSION
from dais_keras.deploy.zoo.entry import URL_SCHEMES
from dais_keras.deploy.zoo.entry import ZooEntry
from dais_keras.deploy.zoo.entry import parse_key
from dais_keras.deploy.zoo.entry import validate_index
from dais_keras.deploy.zoo.errors import ZooDownloadError
from dais_keras.deploy.zoo.errors import ZooIntegrityError
from dais_keras.deploy.zoo.errors import ZooSchemaError
from dais_keras.deploy.zoo.index import CACHE_DIR_ENV
from dais_keras.deploy.zoo.index import INDEX_FILE
from dais_keras.deploy.zoo.index import ZOO_DIR_ENV
from dais_keras.deploy.zoo.index import default_zoo_dir
from dais_keras.deploy.zoo.index import get
from dais_keras.deploy.zoo.index import list_entries
from dais_keras.deploy.zoo.index import read_index
from dais_keras.deploy.zoo.index import resolve_cache_dir
from dais_keras.deploy.zoo.index import resolve_zoo_dir
from dais_keras.deploy.zoo.publish import publish
from dais_keras.deploy.zoo.store import DOWNLOAD_TIMEOUT
from dais_keras.deploy.zoo.store import export
from dais_keras.deploy.zoo.store import fetch
from dais_keras.deploy.zoo.store import file_digest
from dais_keras.deploy.zoo.store import load
from dais_keras.deploy.zoo.verify import EntryCheck
from dais_keras.deploy.zoo.verify import VerifyReport
from dais_keras.deploy.zoo.verify import clean
from dais_keras.deploy.zoo.verify import verify

__all__ = [
    "CACHE_DIR_ENV", "DOWNLOAD_TIMEOUT", "FIELDS", "INDEX_FILE", "REQUIRED_FIELDS",
    "SCHEMA_VERSION", "URL_SCHEMES", "ZOO_DIR_ENV", "EntryCheck", "VerifyReport",
    "ZooDownloadError", "ZooEntry", "ZooIntegrityError", "ZooSchemaError", "clean",
    "default_zoo_dir", "export", "fetch", "file_digest", "get", "list", "list_entries",
    "load", "model_card", "parse_key", "publish", "read_index", "resolve_cache_dir",
    "resolve_zoo_dir", "validate_index", "verify",
]

# `dais_keras.zoo.list()` is the public name; `list_entries` is the same
# function under a name that does not shadow the builtin.
list = list_entries  # noqa: A001
