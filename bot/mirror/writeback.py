"""Back to the site: hold or trash a mirrored WordPress comment when a moderator removes it in Discord.

The moderation cog calls `hold_on_site` from its Remove button. Only WordPress sources with an
application password configured for their origin can be changed; for anything else the result says,
in one line, that the bot can only act in Discord, so the moderator knows the site still shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.config import Settings
from bot.net.http import HttpClient
from bot.net.urlsafety import origin_of
from bot.sources.base import SourceError
from bot.sources.wordpress import KIND as WORDPRESS
from bot.sources.wordpress import WordPressWriter
from bot.store import MirrorComment, Store

log = logging.getLogger(__name__)

STATUSES = ("hold", "trash")


@dataclass(frozen=True)
class WritebackResult:
    done: bool  # True when the site now has the comment in `site_status`
    message: str  # one line for the moderator
    site_status: str | None = None


def credentials_for(settings: Settings, url: str) -> tuple[str, str] | None:
    wanted = origin_of(url)
    return next(
        (pair for origin, pair in settings.wordpress_credentials.items() if origin_of(origin) == wanted), None
    )


async def hold_on_site(
    settings: Settings, store: Store, comment: MirrorComment, status: str = "hold"
) -> WritebackResult:
    """Set a mirrored comment's status on its WordPress site to `status` ('hold' or 'trash').

    `comment` is the stored comment (`store.mirror.comment_row`). Never raises for a site problem: the
    result carries the reason.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    source = await store.mirror.source_of_comment(comment.id)
    if source is None:
        return WritebackResult(False, "That comment is no longer mirrored; I can only act in Discord.")
    if source.kind != WORDPRESS:
        return WritebackResult(
            False,
            f"That comment comes from a {source.kind} source, which I cannot change; "
            "I can only act in Discord.",
        )
    pair = credentials_for(settings, source.url)
    if pair is None:
        return WritebackResult(
            False,
            f"No WordPress credentials are configured for {origin_of(source.url)}; "
            "I can only act in Discord.",
        )
    async with HttpClient(
        allow_private=settings.allow_private_urls,
        timeout=settings.http_timeout,
        max_bytes=settings.max_response_bytes,
    ) as http:
        writer = WordPressWriter(source.url, pair[0], pair[1], http=http)
        try:
            reported = await writer.set_comment_status(comment.comment.external_id, status)
        except SourceError as exc:
            log.warning("write-back of comment %s failed: %s", comment.id, exc.reason)
            return WritebackResult(False, f"{exc.reason}; the comment was handled in Discord only.")
    verb = "held for moderation" if status == "hold" else "moved to the trash"
    return WritebackResult(
        True, f"The comment was also {verb} on {origin_of(source.url)}.", reported or status
    )
