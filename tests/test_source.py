"""show_source and source_text: the source of the package's functions, as the book shows it."""

import inspect
import textwrap
from unittest import mock

import IPython.display
import pytest

from vidbook.errors import BadValueError
from vidbook.scratch.conv import conv_output_size
from vidbook.viz import show_source, source_text


class _Holder:
    def method(self):
        """A method indented inside its class."""
        return 1


def test_source_text_is_the_dedented_source():
    assert source_text(conv_output_size) == textwrap.dedent(inspect.getsource(conv_output_size))
    text = source_text(_Holder.method)
    assert text.startswith("def method(self):")
    assert text == textwrap.dedent(inspect.getsource(_Holder.method))


def test_source_text_joins_objects_in_order_with_a_newline():
    one, two = (textwrap.dedent(inspect.getsource(f)) for f in (conv_output_size, _Holder.method))
    assert source_text(conv_output_size, _Holder.method) == one + "\n" + two


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        (len, r"builtins\.len: it is a builtin"),
        (str.join, r"str\.join: it is a builtin"),
        (3, r"3: it is of type int, not a function"),
        (property(lambda self: 1), r"<property object .*: it is a property; pass its getter"),
    ],
)
def test_objects_without_source_say_which_and_why(obj, words):
    with pytest.raises(BadValueError, match=r"cannot show the source of object 2, " + words):
        source_text(conv_output_size, obj)


def test_missing_source_file_is_a_bad_value_not_a_bare_os_error():
    namespace = {}
    exec(compile("def made_up():\n    return 1\n", "<nowhere>", "exec"), namespace)
    with pytest.raises(BadValueError, match=r"made_up: its source file is not available"):
        source_text(namespace["made_up"])


def test_no_objects_is_an_error():
    with pytest.raises(BadValueError, match="at least one"):
        source_text()
    with pytest.raises(BadValueError, match="at least one"):
        show_source()


def test_show_source_displays_one_code_block():
    with mock.patch.object(IPython.display, "display") as display:
        assert show_source(conv_output_size, _Holder.method) is None
    (shown,), _ = display.call_args
    assert display.call_count == 1
    assert isinstance(shown, IPython.display.Code)
    assert shown.data == source_text(conv_output_size, _Holder.method)
    assert "conv_output_size" in shown._repr_html_()


def test_show_source_checks_the_language():
    with pytest.raises(BadValueError, match="language"):
        show_source(conv_output_size, language="")
