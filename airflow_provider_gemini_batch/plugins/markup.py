"""HTML built so that an unescaped value cannot reach the page.

Every piece of the batch page is made by :func:`html`: a template written in the source (a string
literal) whose ``{}`` fields are filled with ``markupsafe``'s escaping formatter, so every value
is HTML-escaped (quotes too) unless it is itself :class:`Markup` made by :func:`html`. Nothing
else builds ``Markup`` (a test checks that every ``html(...)`` and ``Markup(...)`` call of the
plugin has a literal template), so a value from XCom or from the API cannot become markup.
``markupsafe`` is installed with Airflow (it is Jinja2's escaping).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:  # typing.LiteralString is Python 3.11+; only the type checker needs it
    from typing_extensions import LiteralString

__all__ = ["Markup", "html", "join"]


def html(template: LiteralString, /, *args: Any, **kwargs: Any) -> Markup:
    """``template`` (a literal) with its ``{}`` fields filled with escaped values.

    Format specs work on the value before escaping (``html("{:.0f}%", 12.5)`` -> ``13%``).
    """
    return Markup(template).format(*args, **kwargs)


def join(parts: Iterable[Markup]) -> Markup:
    """``parts`` concatenated; any part that is not :class:`Markup` is escaped."""
    return Markup("").join(parts)
