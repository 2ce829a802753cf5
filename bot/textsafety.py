"""Make text written by strangers safe to show in Discord.

Mirrored comments and member messages are posted by the bot (or its webhooks), so anything they
contain is said with the bot's voice: a pasted `@everyone` or `<@&role>` would ping, a masked link
could hide a phishing URL behind friendly text, a bidi override could make a name read backwards, a
stray code fence could swallow the rest of a review card, and a commenter could call themselves
"Moderator". Everything here is pure string work with no Discord objects, so it is cheap to test.
"""

from __future__ import annotations

import re
import unicodedata
import warnings

from bs4 import BeautifulSoup, Comment, MarkupResemblesLocatorWarning, NavigableString
from markdownify import MarkdownConverter

# A comment that is just a URL or a file name is text to us, not something to fetch: BeautifulSoup's hint
# that it "looks like a locator" is noise in the bot's log.
warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)

ZWSP = "\u200b"  # breaks a token for Discord's parser without showing anything

# Elements whose content is never text a reader wrote.
_DROPPED_TAGS = (
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "noscript",
    "template",
    "svg",
    "math",
    "form",
    "input",
    "button",
    "select",
    "textarea",
    "link",
    "meta",
    "head",
    "frame",
    "frameset",
)
_URL_ATTRS = ("href", "src")
_NEWLINE_IN_WHITESPACE = re.compile(r"[ \t\r]*\n\s*")
_SAFE_URL_SCHEMES = ("http:", "https:", "mailto:")

# Bidi overrides/embeddings (U+202A–U+202E) and isolates (U+2066–U+2069) reorder the text around
# them; legitimate right-to-left text does not need them, spoofing does.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")

# Discord pings `@everyone`/`@here` wherever they start, whatever follows (`@everyone1`, `@here_now`), so
# the rule looks at what follows every at sign, ignoring invisible and combining characters and folding
# look-alikes, and breaks the token right after the at sign.
_AT_SIGNS = re.compile("[@\uff20\ufe6b]")  # @, full-width and small at signs
_PING_WORDS = ("everyone", "here")
_INVISIBLE = frozenset(("Cf", "Mn", "Me", "Cc"))  # format, combining, enclosing and control characters
# Anything shaped like a Discord mention: <@id>, <@!id>, <@&id>, <#id>, slash-command mentions
# </name:id> and </name sub:id> (names may hold any letters and marks), and <id:…> guild navigation.
_MENTION_OPENING = re.compile(r"<(?=@[!&]?\d|#\d|/[^<>\n:]{1,100}:\d|id:)")
# [text](url), [text](<url>), [text](url "title"): shown as "text (url)". Anything else still shaped like a
# masked link (parentheses in the URL, nested brackets, other title quotes) has its "](" broken below.
_MASKED_LINK = re.compile(r"\[([^\[\]\n]*)\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_LINK_JOINT = "]("
_FENCE = re.compile("`{3,}")

# Latin look-alikes from Cyrillic and Greek, used only on names that also contain Latin letters:
# a fully Cyrillic or Greek name is left as its owner wrote it.
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "B",
        "е": "e",
        "к": "k",
        "м": "M",
        "н": "H",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "T",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "ɡ": "g",
        "А": "A",
        "В": "B",
        "Е": "E",
        "К": "K",
        "М": "M",
        "Н": "H",
        "О": "O",
        "Р": "P",
        "С": "C",
        "Т": "T",
        "У": "Y",
        "Х": "X",
        "І": "I",
        "Ј": "J",
        "Ѕ": "S",
        "α": "a",
        "ο": "o",
        "ρ": "p",
        "ν": "v",
        "ι": "i",
        "κ": "k",
        "τ": "t",
        "υ": "u",
        "Α": "A",
        "Β": "B",
        "Ε": "E",
        "Ζ": "Z",
        "Η": "H",
        "Ι": "I",
        "Κ": "K",
        "Μ": "M",
        "Ν": "N",
        "Ο": "O",
        "Ρ": "P",
        "Τ": "T",
        "Υ": "Y",
        "Χ": "X",
    }
)
_LATIN = re.compile("[A-Za-z]")
# Characters Discord refuses or interprets in user names; replaced by harmless full-width forms.
_NAME_PUNCTUATION = str.maketrans({"@": "＠", "#": "＃", ":": "：", "`": "'"})
# Discord rejects webhook names containing these words; each is split in two with a hyphen.
_FORBIDDEN_NAME_WORDS = re.compile(r"(disc)(ord)|(cly)(de)|(system) (message)", re.IGNORECASE)
DISPLAY_NAME_LIMIT = 80
COMMENT_MARKER = " (comment)"


class _DiscordMarkdown(MarkdownConverter):
    """markdownify tuned for Discord: real newlines for <br> (readers write verse), # headings."""

    def convert_br(self, el, text, parent_tags):  # type: ignore[no-untyped-def]
        return "\n"

    def convert_img(self, el, text, parent_tags):  # type: ignore[no-untyped-def]
        # Discord does not render inline images; say one was there without fetching anything.
        alt = (el.get("alt") or "").strip()
        return f"[image: {alt}]" if alt else "[image]"


_CONVERTER = _DiscordMarkdown(heading_style="atx", bullets="-", escape_misc=False)


def _sanitise(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    # In HTML a newline in text is just a space; only <br>, <p> and friends break lines. WordPress
    # writes "<br />\n", which would otherwise become a blank line between every verse line.
    for node in soup.find_all(string=_NEWLINE_IN_WHITESPACE):
        if not isinstance(node, Comment) and node.find_parent("pre") is None:
            node.replace_with(NavigableString(_NEWLINE_IN_WHITESPACE.sub(" ", str(node))))
    for tag in soup.find_all(True):
        for attr in list(tag.attrs):
            if attr.lower().startswith("on"):
                del tag.attrs[attr]
        for attr in _URL_ATTRS:
            value = tag.attrs.get(attr)
            if isinstance(value, str) and ":" in value.split("/", 1)[0]:
                if not value.strip().lower().startswith(_SAFE_URL_SCHEMES):
                    del tag.attrs[attr]  # javascript:, data:, vbscript: …


def html_to_markdown(html: str) -> str:
    """Convert comment HTML to Discord markdown, dropping active content and keeping line breaks."""
    if not html or not html.strip():
        return ""
    soup = BeautifulSoup(html, "html.parser")
    _sanitise(soup)
    text = _CONVERTER.convert_soup(soup)
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Plain text of a short HTML fragment (titles): entities decoded, tags and markup dropped."""
    if not html:
        return ""
    soup = BeautifulSoup(html, "html.parser")
    _sanitise(soup)
    return " ".join(soup.get_text(" ").split())


def strip_bidi_controls(text: str) -> str:
    return _BIDI_CONTROLS.sub("", text)


def strip_invisible(text: str) -> str:
    """Remove every format/control character (zero-width, bidi, soft hyphen…), keeping spaces."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cf", "Cc"))


def neutralise(text: str) -> str:
    """Make `text` unable to ping, hide a link target, or reorder itself when the bot posts it.

    Keeps zero-width joiners (emoji sequences, Persian) in body text; only names lose them.
    """
    text = strip_bidi_controls(text)
    text = _MASKED_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(1) else m.group(2), text)
    # No "](" survives, so no masked link can hide its target however its URL or title is written.
    text = text.replace(_LINK_JOINT, f"]{ZWSP}(")
    text = _MENTION_OPENING.sub(f"<{ZWSP}", text)
    return _AT_SIGNS.sub(_break_ping, text)


def _word_after(text: str, start: int) -> str:
    """The next few visible characters from `start` as a ping parser might read them: invisible and
    combining characters skipped, look-alikes and compatibility forms folded to Latin, case folded."""
    kept: list[str] = []
    for index in range(start, len(text)):  # no slice: a megabyte of at signs must stay linear
        ch = text[index]
        if unicodedata.category(ch) in _INVISIBLE:
            continue
        kept.append(ch)
        if len(kept) == len("everyone"):
            break
    return unicodedata.normalize("NFKC", "".join(kept)).translate(_CONFUSABLES).casefold()


def _break_ping(match: re.Match[str]) -> str:
    at, text, end = match.group(0), match.string, match.end()
    following = text[end : end + 1]
    if following == ZWSP or following.isascii() and following not in "eEhH":
        return (
            at  # already broken (neutralise is idempotent), or plainly no ping word: the common cases, fast
        )
    return f"{at}{ZWSP}" if _word_after(text, end).startswith(_PING_WORDS) else at


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis saying it was cut (echoes, fields, labels)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_code_fences(text: str) -> str:
    """Break runs of backticks that could open or close a code block around quoted text."""
    return _FENCE.sub(lambda m: ZWSP.join(m.group(0)), text)


def quote_block(text: str) -> str:
    """Format `text` as a Discord block quote that it cannot break out of (call `neutralise` first)."""
    return "\n".join(f"> {line}" if line else ">" for line in escape_code_fences(text).split("\n"))


def code_block(text: str, language: str = "") -> str:
    """Wrap `text` in a fenced code block that it cannot close early."""
    return f"```{language}\n{escape_code_fences(text)}\n```"


def safe_display_name(name: str, *, marker: str = COMMENT_MARKER) -> str:
    """A webhook user name for a commenter that Discord accepts and nobody can mistake for staff.

    The marker is always appended, so "Moderator" or the bot's own name shows as "… (comment)".
    """
    cleaned = unicodedata.normalize("NFKC", name or "")
    cleaned = strip_invisible(cleaned)
    cleaned = " ".join(cleaned.split())
    if _LATIN.search(cleaned):
        cleaned = cleaned.translate(_CONFUSABLES)
    cleaned = cleaned.translate(_NAME_PUNCTUATION)
    cleaned = _FORBIDDEN_NAME_WORDS.sub(lambda m: "-".join(part for part in m.groups() if part), cleaned)
    if not cleaned or cleaned.casefold() in ("everyone", "here"):
        cleaned = "Anonymous"
    room = DISPLAY_NAME_LIMIT - len(marker)
    if len(cleaned) > room:
        cleaned = cleaned[: room - 1].rstrip() + "…"
    return cleaned + marker


def _cut_point(text: str, size: int) -> tuple[int, int]:
    """Where to end a part of at most `size` chars, and where the next one starts."""
    window = text[: size + 1]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator, 0, size + 1)
        if at > 0:
            return at, at + len(separator)
    return size, size  # one unbroken run (a long URL): a hard cut, still numbered


def split_message(text: str, limit: int = 2000) -> list[str]:
    """Split `text` into parts of at most `limit` chars at paragraph, line or word boundaries.

    Parts are numbered ("(2/3)" on their last line) so a reader always knows text continues.
    """
    if len(text) <= limit:
        return [text]
    digits = 1
    while True:
        largest = 10**digits - 1
        room = limit - len(f"\n({largest}/{largest})")
        if room < 10:
            raise ValueError(f"limit {limit} is too small to split text into numbered parts")
        parts: list[str] = []
        rest = text
        while len(rest) > room:
            end, start = _cut_point(rest, room)
            part = rest[:end].rstrip()
            if part:
                parts.append(part)
            rest = rest[start:]
        if rest.strip():
            parts.append(rest.rstrip())
        if len(parts) <= largest:
            total = len(parts)
            return [f"{part}\n({i}/{total})" for i, part in enumerate(parts, 1)]
        digits += 1
