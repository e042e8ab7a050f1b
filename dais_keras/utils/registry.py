"""A registry keyed by layer class, looked up along the class hierarchy.

Handlers (how to prune a layer type), MAC rules, weight-norm rules and latency
probes are all `ClassRegistry` instances: a subclass of a registered layer
gets its parent's entry unless it registers its own.
"""

import types


class ClassRegistry:
    """Maps classes to values; `lookup(obj)` walks `type(obj).__mro__`.

    Args:
        name: What the values are, for messages (e.g. `"handler"`).

    Example:

    ```python
    rules = ClassRegistry("MAC rule")
    rules.register(keras.layers.Conv2D, conv_rule)
    rules.lookup(keras.layers.Conv2D(8, 3))   # conv_rule
    ```
    """

    def __init__(self, name):
        self.name = name
        self._entries = {}

    def register(self, cls, value):
        if not isinstance(cls, type):
            raise ValueError(f"A {self.name} is registered for a class; received {cls!r}.")
        self._entries[cls] = value
        return value

    def unregister(self, cls):
        """Removes the entry of `cls` (a no-op if it has none)."""
        self._entries.pop(cls, None)

    def lookup(self, obj):
        """The value for `obj`'s class or its nearest registered base, or None."""
        for cls in type(obj).__mro__:
            if cls in self._entries:
                return self._entries[cls]
        return None

    def key_of(self, obj):
        """The registered class `lookup(obj)` used, or None."""
        for cls in type(obj).__mro__:
            if cls in self._entries:
                return cls
        return None

    def __contains__(self, cls):
        return cls in self._entries

    def __len__(self):
        return len(self._entries)

    def items(self):
        return list(self._entries.items())

    def as_mapping(self):
        """A read-only view of the entries."""
        return types.MappingProxyType(self._entries)
