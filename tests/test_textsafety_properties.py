"""Neutralisation as properties over generated families, not just the examples in the issue.

Families: every way to write a ping (`@everyone1`, `@here_now`, any suffix, full-width and small at signs,
Cyrillic/Greek look-alikes, zero-width and combining characters between the letters), every mention shape
(slash-command names with combining marks, Devanagari, Thai), and masked links whose URL has parentheses,
whose title is single-quoted, or whose text nests brackets. The oracle for links is Discord's own parser rule
(simple-markdown's link regex), so a rule that only fixed the examples would fail here.
"""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.textsafety import ZWSP, neutralise, safe_display_name, strip_bidi_controls
from tests.fakediscord.limits import check_webhook_name

PROPERTY = settings(max_examples=300, deadline=None)

AT_SIGNS = ["@", "\uff20", "\ufe6b"]
INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u0301",
    "\u0327",
    "\u20dd",
    "\u180e",
]
LOOKALIKES = {"e": ["е", "Е", "ε"], "o": ["о", "ο", "О"], "y": ["у"], "r": ["г"], "h": ["һ", "Н"], "n": ["ո"]}
FULLWIDTH = {c: chr(ord(c) - ord("a") + 0xFF41) for c in "abcdefghijklmnopqrstuvwxyz"}

# Discord's link rule (simple-markdown): [inside](href "title") where href may hold one level of parentheses.
_LINK_INSIDE = r"(?:\[[^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*"
_LINK_HREF_AND_TITLE = r"\s*<?((?:\([^)]*\)|[^\s\\])*?)>?(?:\s+['\"]([\s\S]*?)['\"])?\s*"
DISCORD_LINK = re.compile(r"\[(" + _LINK_INSIDE + r")\]\(" + _LINK_HREF_AND_TITLE + r"\)")
RAW_MENTION = re.compile(r"<(@[!&]?\d+|#\d+|/[^<>\n]+:\d+|id:\w+)>")
PLAIN_PING = re.compile(r"@(everyone|here)", re.IGNORECASE)


@st.composite
def ping_word(draw: st.DrawFn) -> str:
    """ "everyone"/"here" in any case, with look-alikes, full-width letters and invisible characters mixed in."""
    word = draw(st.sampled_from(["everyone", "here"]))
    out = []
    for ch in word:
        ch = draw(st.sampled_from([ch, ch.upper(), FULLWIDTH[ch], *LOOKALIKES.get(ch, [])]))
        out.append(ch + "".join(draw(st.lists(st.sampled_from(INVISIBLE), max_size=2))))
    return "".join(out)


@st.composite
def ping(draw: st.DrawFn) -> str:
    at = draw(st.sampled_from(AT_SIGNS))
    padding = "".join(draw(st.lists(st.sampled_from(INVISIBLE), max_size=3)))
    suffix = draw(st.sampled_from(["", "1", "_", "_now", "'s", ".", "s", "!!", "everyone", "-", "0x"]))
    return at + padding + draw(ping_word()) + suffix


surrounding = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


def folded_word_after(text: str, index: int) -> str:
    """What follows an at sign, read as a ping parser might: written here apart from the implementation
    (only the look-alike table is shared), so the property does not just restate `neutralise`."""
    import unicodedata

    from bot.textsafety import _CONFUSABLES

    visible = [c for c in text[index : index + 60] if unicodedata.category(c) not in ("Cf", "Mn", "Me", "Cc")]
    return unicodedata.normalize("NFKC", "".join(visible[:8])).translate(_CONFUSABLES).casefold()


@PROPERTY
@given(surrounding, ping(), surrounding)
@example("", "@everyone1", "")
@example("", "@everyone_", "")
@example("", "@here_now", "")
def test_no_ping_survives_in_any_spelling(before: str, token: str, after: str) -> None:
    out = neutralise(before + token + after)
    assert not PLAIN_PING.search(out)
    for index, ch in enumerate(out):
        if ch in AT_SIGNS and folded_word_after(out, index + 1).startswith(("everyone", "here")):
            assert out[index + 1] == ZWSP, ascii(out)


@PROPERTY
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_neutralise_hides_and_loses_nothing(text: str) -> None:
    """Only zero-width spaces are added and bidi controls removed, unless a masked link was rewritten; and a
    second pass changes nothing."""
    out = neutralise(text)
    assert neutralise(out) == out
    if not DISCORD_LINK.search(text):
        assert out.replace(ZWSP, "") == strip_bidi_controls(text).replace(ZWSP, "")


def pieces(options: list[str], *, min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(options), min_size=min_size, max_size=max_size).map("".join)


command_name = pieces(
    list("abcxyz_-'") + ["\u0301", "\u0308", "न", "म", "\u0938\u094d", "ก", "\u0e34", "ß", "ж"], min_size=1
)


@PROPERTY
@given(
    surrounding,
    st.one_of(
        st.builds(lambda p, n: f"<{p}{n}>", st.sampled_from(["@", "@!", "@&", "#"]), st.integers(0, 10**19)),
        st.builds(
            lambda a, b, n: f"</{a}{b}:{n}>",
            command_name,
            st.one_of(st.just(""), command_name.map(lambda s: " " + s)),
            st.integers(0, 10**19),
        ),
        st.sampled_from(["<id:customize>", "<id:browse>", "<id:guide>"]),
    ),
    surrounding,
)
@example("", "</ban\u0301:123>", "")
def test_no_mention_survives(before: str, mention: str, after: str) -> None:
    assert not RAW_MENTION.search(neutralise(before + mention + after))


url_path = pieces(list("abc_-/.()?=&%~") + ["(b)", "a_(b)"], max_size=20)
link_text = pieces(list("abc []!") + ["[x]", "[", "]"], max_size=15)
title = st.one_of(
    st.just(""),
    st.builds(
        lambda q, t: f" {q}{t}{q}",
        st.sampled_from(['"', "'"]),
        st.text(st.sampled_from(list("safe ")), max_size=8),
    ),
)


@PROPERTY
@given(link_text, url_path, title, st.booleans())
@example("x", "a_(b)", "", False)
@example("a [b] c", "phish", "", False)
@example("x", "p", " 'safe'", False)
def test_no_masked_link_hides_its_target(text: str, path: str, title: str, angle: bool) -> None:
    url = f"https://evil.example/{path}"
    href = f"<{url}>" if angle else url
    out = neutralise(f"[{text}]({href}{title})")
    links = [m for m in DISCORD_LINK.finditer(out) if m.group(2).lstrip("<").startswith("http")]
    assert not links, out
    assert "evil.example" in out


def test_link_from_html_with_parentheses_shows_its_target() -> None:
    from bot.textsafety import html_to_markdown

    out = neutralise(html_to_markdown('<p><a href="https://evil.example/a_(b)">my bank</a></p>'))
    assert "https://evil.example/a_(b)" in out and not DISCORD_LINK.search(out)


reserved = st.sampled_from(["everyone", "here", "system message", "discord", "clyde", "```", "@", "#", ":"])


@PROPERTY
@given(st.lists(st.one_of(reserved, surrounding, st.sampled_from(INVISIBLE)), max_size=6).map("".join))
@example("everyone")
@example("System\u00a0Message")
@example("Disc\u200bord")
@example("   ")
def test_every_display_name_is_a_name_discord_accepts(name: str) -> None:
    check_webhook_name("username", safe_display_name(name))
