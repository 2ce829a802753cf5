"""Text from strangers made safe to print on a terminal: one line, no control or escape sequences.

Titles, authors, JSON keys, file names and server headers reach the scan report and the CLI's error
line. Printed raw, an escape sequence could recolour or rewrite the screen, and a newline could paint a
fake `FLAG` line into the report; a lone surrogate would crash the print itself.
"""

from __future__ import annotations

import re
import unicodedata

# ESC-introduced sequences: CSI (`ESC [ … final`), OSC/DCS/PM/APC/SOS strings (ended by BEL or ST),
# and the two-character ones (`ESC c`, `ESC 7`, …). The 8-bit C1 forms (U+009B CSI, …) too.
_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x85\u2028\u2029]+")


def terminal_line(text: str) -> str:
    """`text` as one printable line: escape sequences removed, line breaks and tabs made spaces,
    every other control, format (bidi, zero-width) and surrogate character dropped."""
    text = _LINE_BREAKS.sub(" ", _ESCAPE.sub("", text))
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
