"""Fast constructors for the library's own hot objects (internal: not part of the public API).

An attrs class built by calling it runs its ``__init__`` through keyword binding,
one ``object.__setattr__`` per field and every validator: 1-3 us per object on
the machines of the benchmarks, paid for every event, command and transition
record the engine makes. Objects the library builds itself from values that
were already validated (a timer's event, a machine's command, a history record)
need none of that: :func:`fast_constructor` gives a function that takes every
field positionally, in declaration order, and fills the slots directly.

What users and venues hand in is still built (and validated) by the class itself:
this is only for objects whose fields the library produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["fast_constructor"]

_T = TypeVar("_T")


def fast_constructor(cls: type[_T]) -> Callable[..., _T]:
    """``make(*fields)``: an instance of the slotted attrs class ``cls``, no validation.

    Every field is passed positionally, in ``attrs.fields(cls)`` order (no defaults,
    no converters, no validators, no ``__attrs_post_init__``). The object is the same
    as ``cls(**fields)`` would build from valid values: same class, same slots, equal.
    """
    names = [field.name for field in attrs.fields(cls)]  # type: ignore[arg-type]
    if not names or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a slotted attrs class with fields")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    setters = []
    for i, name in enumerate(names):
        # A slot's member descriptor, found on the class that declares the slot.
        descriptor = next(
            klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__.get("__slots__", ())
        )
        namespace[f"_set{i}"] = descriptor.__set__
        setters.append(f"    _set{i}(self, {name})")
    arguments = ", ".join(names)
    defaults = ", ".join(f"_set{i}=_set{i}" for i in range(len(names)))
    source = (
        f"def make({arguments}, *, _new=_new, _cls=_cls, {defaults}):\n"
        "    self = _new(_cls)\n" + "\n".join(setters) + "\n    return self\n"
    )
    exec(compile(source, f"<fast constructor of {cls.__qualname__}>", "exec"), namespace)
    make: Callable[..., _T] = namespace["make"]
    make.__doc__ = f"{cls.__qualname__}({arguments}) without validation (library-built values only)."
    return make
