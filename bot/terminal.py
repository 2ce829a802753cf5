"""Text from strangers made safe to print on a terminal: one line, no control or escape sequences.

Titles, authors, JSON keys, file names and server headers reach the scan report and the CLI's error
line. Printed raw, an escape sequence could recolour or rewrite the screen, and a newline could paint a
fake `FLAG` line into the report; a lone surrogate would crash the print itself.
"""

from __future__ import annotations

import re

# ESC-introduced sequences: CSI (`ESC [ … final`), OSC/DCS/PM/APC/SOS strings (ended by BEL or ST),
# and the two-character ones (`ESC c`, `ESC 7`, …). The 8-bit C1 forms (U+009B CSI, …) too.
_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x85\u2028\u2029]+")
# Unicode categories Cc, Cf and Cs (Unicode 14, Python 3.11) as one class, so the whole pass runs in the
# regex engine: log lines go through here too, some of them large gateway payloads.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def terminal_line(text: str) -> str:
    """`text` as one printable line: escape sequences removed, line breaks and tabs made spaces,
    every other control, format (bidi, zero-width) and surrogate character dropped."""
    return _INVISIBLE.sub("", _LINE_BREAKS.sub(" ", _ESCAPE.sub("", text)))
