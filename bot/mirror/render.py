"""How a comment looks in Discord, as plain data: the engine renders, the cog only converts to discord.py.

Every comment becomes one embed per part (an embed holds 4096 characters, a message 6000 in all and ten
embeds), and every embed's footer carries a marker naming the comment and the part. The marker is what
makes resume safe: after a crash the engine reads the last messages of a thread and adopts a comment
that reached Discord but not the database, instead of posting it twice.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from bot.sources.base import Article, Comment, Thread
from bot.textsafety import neutralise, quote_block, safe_display_name, split_message

EMBEDS_PER_MESSAGE = 10
MESSAGE_BUDGET = 5800  # Discord allows 6000 characters over all embeds of a message; keep a margin
PART_LIMIT = 3700  # comment text per embed, leaving room for the reply header (~300) inside 4096
PACKABLE = 1200  # a comment this short (rendered) may share a message with others in a backfill
QUOTE_CHARS = 100
TITLE_LIMIT = 256
EXCERPT_CHARS = 600
PACKED_USERNAME = "Earlier comments"
REMOVED_ON_SITE = "*[removed on the site]*"
REMOVED_BY_MODERATOR = "*[removed by a moderator]*"
REPLY_TO_REMOVED = "↪ Reply to a removed comment"
REPLY_TO_HELD = "↪ Reply to a comment held for review"
HELD_FOR_REVIEW = "*[held for review]*"
TOO_LONG = "\n… *(too long to show here after an edit; read it on the site)*"
GREY = 0x99AAB5
CARD_COLOUR = 0x5865F2

_MARKER = re.compile(r"^comment (?P<id>.+?)(?: · part (?P<part>\d+)/(?P<parts>\d+))?$")
# An id is shown as is in a marker only when a footer shows it faithfully and briefly; any other id (2,000
# characters, a newline, a "·", padding Discord would trim, mention syntax) is shown as a hash of itself,
# so a marker always fits the 2,048-character footer and always parses back to the same key.
MARKER_ID_LIMIT = 200  # feed ids are often whole comment URLs: keep those readable (and matching older posts)
HASHED_ID = "sha256:"
_UNSHOWABLE = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
URL_LIMIT = 2048  # longer URLs are not worth a refused post: the link is dropped, the comment still shows
_WEB_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class EmbedSpec:
    description: str
    footer: str
    author_name: str | None = None
    author_url: str | None = None
    author_icon: str | None = None
    title: str | None = None
    url: str | None = None
    timestamp: datetime | None = None
    colour: int | None = None

    @property
    def size(self) -> int:
        """Characters Discord counts against the 6000 per message."""
        return sum(len(v or "") for v in (self.description, self.footer, self.author_name, self.title))


@dataclass(frozen=True)
class OutgoingMessage:
    """One webhook message: who it appears to come from and its embeds (never any `content`)."""

    username: str
    avatar_url: str | None
    embeds: tuple[EmbedSpec, ...]


@dataclass(frozen=True)
class ReplyTo:
    """The comment a reply answers, as far as the mirror knows it."""

    author: str
    text: str
    jump_url: str | None  # None while the parent is not in Discord (or is in the same message)
    same_message: bool = False
    removed: bool = False  # the parent was removed: name it so, never quote its text
    held: bool = False  # the parent is held for review: likewise, until it is approved


@dataclass(frozen=True)
class Marker:
    external_id: str  # the comment's `marker_key`: its id, or the hash of an id a footer cannot show
    part: int
    parts: int


def marker_key(external_id: str) -> str:
    """How a marker names an id: the id itself when short and plain, else `sha256:<32 hex>` of it."""
    plain = (
        0 < len(external_id) <= MARKER_ID_LIMIT
        and external_id == " ".join(external_id.split())
        and "·" not in external_id
        and not external_id.startswith(HASHED_ID)
        and all(unicodedata.category(ch) not in _UNSHOWABLE for ch in external_id)
        and neutralise(external_id) == external_id
    )
    if plain:
        return external_id
    return HASHED_ID + hashlib.sha256(external_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def marker(external_id: str, part: int = 1, parts: int = 1) -> str:
    return f"comment {marker_key(external_id)}" + (f" · part {part}/{parts}" if parts > 1 else "")


def article_marker(source_id: int, external_id: str) -> str:
    """The footer of an article's card, in the comments' marker style: it finds a thread made just before a
    kill -9 again. The source is part of it because two sources may mirror articles of the same id
    (two sites' post 5) into one channel."""
    return f"article {marker_key(external_id)} · source {source_id}"


def web_url(value: str | None, base: str | None = None) -> str | None:
    """`value` as an absolute http(s) URL Discord accepts in an embed or as a webhook avatar, else None.

    Sites send relative (`/e1#comment-1`) and scheme-relative (`//img.example/1.png`) URLs; they are made
    absolute against `base` (the article's URL; https when there is none). Anything else Discord would
    refuse (another scheme, no host, spaces, a bad port, over 2,048 characters) is dropped rather than
    making Discord refuse the whole post on every poll.
    """
    value = (value or "").strip()
    if not value or not _showable_without_spaces(value):
        return None
    absolute_base = web_url(base) if base else None
    try:
        if value.startswith("//"):
            value = urljoin(absolute_base or "https:", value)
        elif absolute_base and not urlsplit(value).scheme:
            value = urljoin(absolute_base, value)
        parts = urlsplit(value)
        port_ok = parts.port != 0  # .port raises ValueError for a port that is not a number in range
    except ValueError:  # "https://[::1" and friends
        return None
    if (
        parts.scheme.lower() not in _WEB_SCHEMES
        or not parts.hostname
        or not port_ok
        or len(value) > URL_LIMIT
    ):
        return None
    return value


def _showable_without_spaces(value: str) -> bool:
    """No white space and nothing unshowable. Every poll checks every comment's URLs, so the usual ASCII URL
    takes two C-speed string tests (printable ASCII is exactly 0x20-0x7e, so only the space is left to
    refuse) instead of a category look-up per character."""
    if value.isascii():
        return value.isprintable() and " " not in value
    return not any(ch.isspace() or unicodedata.category(ch) in _UNSHOWABLE for ch in value)


def with_web_urls(thread: Thread) -> Thread:
    """The thread with every URL Discord will see made absolute against the article's URL, or dropped."""
    base = thread.article.url
    article = replace(thread.article, url=web_url(base))
    comments = [
        replace(c, url=web_url(c.url, base), avatar_url=web_url(c.avatar_url, base)) for c in thread.comments
    ]
    return replace(thread, article=article, comments=comments)


def parse_marker(footer: str | None) -> Marker | None:
    match = _MARKER.match(footer or "")
    if match is None:
        return None
    return Marker(match["id"], int(match["part"] or 1), int(match["parts"] or 1))


def jump_url(guild_id: int, thread_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{thread_id}/{message_id}"


def display_name(comment: Comment) -> str:
    return safe_display_name(comment.author)


def _reply_header(reply: ReplyTo) -> str:
    if reply.removed or reply.held:
        line = REPLY_TO_REMOVED if reply.removed else REPLY_TO_HELD
        return f"{line} · [jump to it]({reply.jump_url})\n" if reply.jump_url else f"{line}\n"
    name = neutralise(safe_display_name(reply.author))
    line = f"↪ Replying to **{name}**"
    if reply.jump_url:
        line += f" · [jump to it]({reply.jump_url})"
    elif reply.same_message:
        line += " (above)"
    snippet = " ".join(reply.text.split())
    if len(snippet) > QUOTE_CHARS:
        snippet = snippet[: QUOTE_CHARS - 1].rstrip() + "…"
    return f"{line}\n{quote_block(neutralise(snippet))}\n" if snippet else f"{line}\n"


def comment_embeds(comment: Comment, reply: ReplyTo | None = None) -> list[EmbedSpec]:
    """The embeds of a live comment: one per part, so nothing is ever cut.

    URLs pass `web_url` again here (the engine already made them absolute with `with_web_urls`): a comment
    rebuilt from a row stored before that rule may still hold a relative one.
    """
    header = _reply_header(reply) if reply else ""
    body = neutralise(comment.text).strip() or "*(empty comment)*"
    parts = split_message(body, PART_LIMIT)
    return [
        EmbedSpec(
            description=(header + part) if number == 1 else part,
            footer=marker(comment.external_id, number, len(parts)),
            author_name=display_name(comment),
            author_url=web_url(comment.url),
            author_icon=web_url(comment.avatar_url),
            timestamp=comment.posted_at,
        )
        for number, part in enumerate(parts, 1)
    ]


def removed_embed(comment: Comment, *, by: str) -> EmbedSpec:
    """What replaces a comment taken down, keeping its author and marker so the thread still reads."""
    return EmbedSpec(
        description=REMOVED_BY_MODERATOR if by == "moderator" else REMOVED_ON_SITE,
        footer=marker(comment.external_id),
        author_name=display_name(comment),
        author_url=web_url(comment.url),
        timestamp=comment.posted_at,
        colour=GREY,
    )


def held_embed(comment: Comment) -> EmbedSpec:
    """What holds a withheld comment's place until a moderator approves it: order and reply links stay right,
    and the marker lets a restart adopt it like any post."""
    return replace(removed_embed(comment, by="moderator"), description=HELD_FOR_REVIEW)


def article_card(source_id: int, article: Article) -> EmbedSpec:
    """The first message of an article's thread; its footer is the thread's `article_marker`."""
    excerpt = neutralise(" ".join(article.excerpt.split()))
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[: EXCERPT_CHARS - 1].rstrip() + "…"
    return EmbedSpec(
        title=thread_name(article, TITLE_LIMIT),
        url=web_url(article.url),
        description=excerpt or "*(no excerpt)*",
        author_name=safe_display_name(article.author, marker="") if article.author else None,
        timestamp=article.published_at,
        footer=article_marker(source_id, article.external_id),
        colour=CARD_COLOUR,
    )


def thread_name(article: Article, limit: int = 100) -> str:
    """Thread names are plain text of at most 100 characters and cannot be empty."""
    name = " ".join(neutralise(article.title).split()) or "Untitled article"
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def single_message(comment: Comment, embeds: Sequence[EmbedSpec]) -> OutgoingMessage:
    """A message of one comment, posted under the commenter's own name and avatar."""
    return OutgoingMessage(display_name(comment), web_url(comment.avatar_url), tuple(embeds))


def packed_message(embeds: Sequence[EmbedSpec]) -> OutgoingMessage:
    """Several comments in one message: each embed names its author, the webhook name says why."""
    return OutgoingMessage(PACKED_USERNAME, None, tuple(embeds))


def group_parts(parts: Iterable[EmbedSpec]) -> list[list[EmbedSpec]]:
    """Split a comment's parts into messages that respect Discord's per-message limits."""
    groups: list[list[EmbedSpec]] = []
    size = 0
    for part in parts:
        if not groups or len(groups[-1]) == EMBEDS_PER_MESSAGE or size + part.size > MESSAGE_BUDGET:
            groups.append([])
            size = 0
        groups[-1].append(part)
        size += part.size
    return groups


def fits_with(group: Sequence[EmbedSpec], embed: EmbedSpec) -> bool:
    return len(group) < EMBEDS_PER_MESSAGE and sum(e.size for e in group) + embed.size <= MESSAGE_BUDGET


def clamp(embeds: Sequence[EmbedSpec]) -> list[EmbedSpec]:
    """Make edited embeds fit their one message, saying so in the text that had to be shortened.

    Only edits need this: a new comment is split over as many messages as it needs, but an edit can
    only rewrite the messages that already exist.
    """
    result = list(embeds)[:EMBEDS_PER_MESSAGE]
    while sum(e.size for e in result) > MESSAGE_BUDGET:
        longest = max(range(len(result)), key=lambda i: len(result[i].description))
        embed = result[longest]
        excess = sum(e.size for e in result) - MESSAGE_BUDGET
        keep = max(0, len(embed.description) - excess - len(TOO_LONG))
        if keep == 0 and embed.description.endswith(TOO_LONG):
            break  # nothing left to shorten; Discord will refuse and the engine reports it
        result[longest] = replace(embed, description=embed.description[:keep].rstrip() + TOO_LONG)
    return result
