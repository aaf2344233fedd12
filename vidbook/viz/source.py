"""Show the source code of functions, methods and classes in a notebook, syntax-highlighted.

The book's chapters print the package's own code next to the prose that explains it:
``show_source(conv3d, max_pool3d)`` displays both functions as one highlighted code block.
"""

from __future__ import annotations

import inspect
import textwrap

from vidbook.errors import BadValueError

__all__ = ["show_source", "source_text"]


def _describe(obj: object) -> str:
    """A short name for ``obj`` in an error message: its qualified name, or its repr."""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(name, str):
        module = getattr(obj, "__module__", None)
        return f"{module}.{name}" if isinstance(module, str) else name
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def source_text(*objects: object) -> str:
    """The source code of ``objects`` (functions, methods, classes or modules), each dedented,
    joined by newlines in the order given.

    BadValueError (a ValueError) if no object is given, or naming the first object whose source
    cannot be found and why: a builtin such as ``len`` (written in C), a value such as ``3``
    (not a function or class), or a function whose file is not available.
    """
    if not objects:
        raise BadValueError(
            "source_text needs at least one function, method, class or module, got none"
        )
    parts = []
    for position, obj in enumerate(objects, start=1):
        try:
            source = inspect.getsource(obj)
        except TypeError:
            if inspect.isbuiltin(obj) or inspect.ismethoddescriptor(obj):
                why = "it is a builtin, written in C, so it has no Python source"
            elif isinstance(obj, property):
                why = "it is a property; pass its getter, .fget, instead"
            else:
                why = f"it is of type {type(obj).__name__}, not a function, method, class or module"
            raise BadValueError(
                f"cannot show the source of object {position}, {_describe(obj)}: {why}"
            ) from None
        except OSError as err:
            raise BadValueError(
                f"cannot show the source of object {position}, {_describe(obj)}: its source file"
                f" is not available ({err})"
            ) from None
        parts.append(textwrap.dedent(source))
    return "\n".join(parts)


def show_source(*objects: object, language: str = "python") -> None:
    """Display the source of ``objects`` as one syntax-highlighted code block (an
    ``IPython.display.Code``); see :func:`source_text` for what is shown and the errors.
    """
    if not isinstance(language, str) or not language:
        raise BadValueError(f"language must be a non-empty string, got {language!r}")
    text = source_text(*objects)
    from IPython.display import Code, display

    display(Code(text, language=language))
