"""Text from someone else (paths, names, error messages quoting input) as the terminal shows it:
rich markup escaped, so a name like "[/]" is text, and control characters written out ("\\x1b"),
so an ESC or OSC sequence in a file name cannot recolour, retitle or rewrite the terminal."""
from __future__ import annotations

import re

from rich.markup import escape

# C0 (but newline and tab), DEL and C1 controls
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value) -> str:
    """str(value) with control characters written as escapes."""
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], str(value))


def shown(value) -> str:
    """str(value), safe inside a rich markup string."""
    return escape(plain(value))
