"""Text printed to a terminal (scan report, CLI error lines): one line, no control or escape sequences."""

from __future__ import annotations

import pytest

from bot.terminal import terminal_line


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "red"),  # CSI colour
        ("\x1b[2J\x1b[Hcleared", "cleared"),  # clear screen, cursor home
        ("\x1b[?1049h\x1b[10;20Hmoved", "moved"),  # private mode, cursor position
        ("\x9b2Jc1", "c1"),  # 8-bit CSI
        ("a\x1b]0;window title\x07b", "ab"),  # OSC set title, BEL-terminated
        ("a\x1b]52;c;cm0gLXJmIH4=\x1b\\b", "ab"),  # OSC 52 clipboard write, ST-terminated
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS (sixel)
        ("a\x1bcb", "ab"),  # full reset
        ("one\ntwo\r\nthree\rfour\tfive\vsix\fseven", "one two three four five six seven"),
        ("line\u2028sep\u2029para\x85nel", "line sep para nel"),
        ("bell\x07 nul\x00 del\x7f bs\x08", "bell nul del bs"),
        ("bidi \u202eevil\u202c \u2066iso\u2069 zw\u200bsp", "bidi evil iso zwsp"),
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("Zoë 漢字 👍", "Zoë 漢字 👍"),  # real text untouched
    ],
)
def test_terminal_line_keeps_text_and_drops_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    assert terminal_line(raw) == shown


def test_unterminated_sequences_end_at_the_string_end() -> None:
    assert terminal_line("ok\x1b]0;never ends") == "ok"
    assert terminal_line("ok\x1b[") == "ok"
    assert terminal_line("ok\x1b") == "ok"


def test_every_control_format_and_surrogate_code_point_is_dropped() -> None:
    """The hand-written class matches Python's own categories Cc, Cf and Cs, code point by code point."""
    import unicodedata

    introducers = "\x1b\x9b\x90\x98\x9d\x9e\x9f"  # start a sequence that takes what follows (tested above)
    for code in range(0x110000):
        char = chr(code)
        if char in introducers:
            continue
        if char in "\r\n\t\v\f\x85\u2028\u2029":
            expected = "a b"  # a line break or tab becomes a space
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            expected = "ab"
        else:
            expected = f"a{char}b"
        assert terminal_line(f"a{char}b") == expected, hex(code)
