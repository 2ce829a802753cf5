"""`/mirror …` commands, and the discord.py side of the mirror: the webhook `Publisher`.

The engine (bot/mirror) decides what to post; this file only turns its plain data into webhook calls,
every one with `AllowedMentions.none()`, and Discord's errors into the engine's exceptions.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.mirror import (
    CommentRemoved,
    CommentScored,
    MessageGone,
    MirrorEngine,
    MirrorScheduler,
    PostedMessage,
    PublishError,
    SyncFailed,
    ThreadGone,
    ThreadRef,
)
from bot.mirror.render import EmbedSpec, OutgoingMessage, thread_name
from bot.moderation.judge import Judge
from bot.net.http import HttpClient
from bot.net.urlsafety import UnsafeUrlError, validate_url
from bot.sources.base import Article, Source, SourceError
from bot.sources.registry import open_source
from bot.store import SourceRow
from bot.textsafety import clip, neutralise, split_message
from cogs.checks import MODERATOR_PERMISSIONS, ModeratorCog, command_guild, is_moderator

if TYPE_CHECKING:
    from bot.factory import CommentWarden

log = logging.getLogger(__name__)

WEBHOOK_NAME = "commentwarden"
NO_PINGS = discord.AllowedMentions.none()
UNKNOWN_WEBHOOK = 10015
ARCHIVE_MINUTES: Literal[10080] = 10080  # a week, one of the durations Discord accepts
EVENT = "comment_scored"
REMOVED_EVENT = "comment_removed"
MESSAGE_LIMIT = 2000


def to_embed(spec: EmbedSpec) -> discord.Embed:
    embed = discord.Embed(
        title=spec.title,
        url=spec.url,
        description=spec.description,
        timestamp=spec.timestamp,
        colour=spec.colour,
    )
    if spec.author_name:
        embed.set_author(name=spec.author_name, url=spec.author_url, icon_url=spec.author_icon)
    embed.set_footer(text=spec.footer)
    return embed


def _refusal(exc: discord.HTTPException, doing: str) -> PublishError:
    if isinstance(exc, discord.Forbidden):
        return PublishError(
            f"missing a Discord permission to {doing} (Manage Webhooks, Create Posts/Threads, "
            "Send Messages in Threads)"
        )
    return PublishError(f"Discord refused to {doing}: HTTP {exc.status} {exc.text[:120]}".rstrip())


class DiscordPublisher:
    """Webhook posting into article threads: one webhook per parent channel, created on first use."""

    def __init__(self, bot: CommentWarden) -> None:
        self.bot = bot
        self._webhooks: dict[int, discord.Webhook] = {}

    async def _channel(self, channel_id: int) -> discord.abc.GuildChannel | discord.Thread:
        channel = self.bot.get_channel(channel_id)
        if channel is not None:
            return channel  # type: ignore[return-value]
        try:
            return await self.bot.fetch_channel(channel_id)  # type: ignore[return-value]
        except discord.NotFound:
            raise PublishError(
                f"channel {channel_id} no longer exists; remove this source or add it again"
            ) from None
        except discord.HTTPException as exc:
            raise _refusal(exc, f"read channel {channel_id}") from None

    async def _webhook(self, channel_id: int) -> discord.Webhook:
        hook = self._webhooks.get(channel_id)
        if hook is not None:
            return hook
        channel = await self._channel(channel_id)
        if not isinstance(channel, discord.TextChannel | discord.ForumChannel):
            raise PublishError(f"<#{channel_id}> is not a text or forum channel")
        me = self.bot.user
        try:
            hooks = await channel.webhooks()
            hook = next(
                (
                    h
                    for h in hooks
                    if h.name == WEBHOOK_NAME and h.token and h.user and me and h.user.id == me.id
                ),
                None,
            )
            if hook is None:
                hook = await channel.create_webhook(name=WEBHOOK_NAME, reason="mirror article comments")
        except discord.HTTPException as exc:
            raise _refusal(exc, f"use webhooks in #{channel.name}") from None
        self._webhooks[channel_id] = hook
        return hook

    async def ensure_thread(
        self, source: SourceRow, article: Article, card: EmbedSpec, thread_id: int | None
    ) -> ThreadRef:
        if thread_id is not None:
            if self.bot.get_channel(thread_id) is not None:
                return ThreadRef(thread_id, None)
            try:
                await self.bot.fetch_channel(thread_id)
            except discord.NotFound:
                raise ThreadGone(f"thread {thread_id} was deleted") from None
            except discord.HTTPException as exc:
                raise _refusal(exc, f"read thread {thread_id}") from None
            return ThreadRef(thread_id, None)
        channel = await self._channel(source.channel_id)
        name = thread_name(article)
        try:
            if isinstance(channel, discord.ForumChannel):
                made = await channel.create_thread(name=name, embed=to_embed(card), allowed_mentions=NO_PINGS)
                return ThreadRef(made.thread.id, made.message.id)
            if isinstance(channel, discord.TextChannel):
                thread = await channel.create_thread(
                    name=name, type=discord.ChannelType.public_thread, auto_archive_duration=ARCHIVE_MINUTES
                )
                message = await thread.send(embed=to_embed(card), allowed_mentions=NO_PINGS)
                return ThreadRef(thread.id, message.id)
        except discord.HTTPException as exc:
            raise _refusal(exc, f"create a thread in #{channel}") from None
        raise PublishError(f"<#{source.channel_id}> is not a text or forum channel")

    async def find_thread(self, source: SourceRow, article: Article, marker: str) -> ThreadRef | None:
        channel = await self._channel(source.channel_id)
        me = self.bot.user
        if not isinstance(channel, discord.TextChannel | discord.ForumChannel) or me is None:
            return None
        name = thread_name(article)
        try:
            threads = await channel.guild.active_threads()
            for thread in sorted(threads, key=lambda t: t.id, reverse=True):  # an orphan is a recent one
                # Only threads named for this article are read, so a busy forum costs one read, not one each.
                if thread.parent_id != channel.id or thread.owner_id != me.id or thread.name != name:
                    continue
                # The card is the thread's first message: a forum post's starter, or our first send.
                async for first in thread.history(limit=1, oldest_first=True):
                    if first.author.id == me.id and any(e.footer.text == marker for e in first.embeds):
                        return ThreadRef(thread.id, first.id)
        except discord.HTTPException as exc:
            raise _refusal(exc, f"list the active threads of #{channel.name}") from None
        return None

    async def post(self, source: SourceRow, thread_id: int, message: OutgoingMessage) -> int:
        for attempt in (1, 2):
            hook = await self._webhook(source.channel_id)
            try:
                sent = await hook.send(
                    username=message.username,
                    avatar_url=message.avatar_url,
                    embeds=[to_embed(e) for e in message.embeds],
                    thread=discord.Object(thread_id),
                    wait=True,
                    allowed_mentions=NO_PINGS,
                )
                return sent.id
            except discord.NotFound as exc:
                if exc.code == UNKNOWN_WEBHOOK and attempt == 1:
                    self._webhooks.pop(source.channel_id, None)  # someone deleted it: make a new one
                    continue
                raise ThreadGone(f"thread {thread_id} is gone") from None
            except discord.HTTPException as exc:
                raise _refusal(exc, "post a comment") from None
        raise AssertionError("unreachable")

    async def edit(
        self, source: SourceRow, thread_id: int, message_id: int, embeds: tuple[EmbedSpec, ...]
    ) -> None:
        hook = await self._webhook(source.channel_id)
        try:
            await hook.edit_message(
                message_id,
                embeds=[to_embed(e) for e in embeds],
                thread=discord.Object(thread_id),
                allowed_mentions=NO_PINGS,
            )
        except discord.NotFound as exc:
            if exc.code == UNKNOWN_WEBHOOK:
                self._webhooks.pop(source.channel_id, None)  # a new webhook cannot edit the old one's posts
            raise MessageGone(message_id) from None
        except discord.HTTPException as exc:
            raise _refusal(exc, "edit a mirrored comment") from None

    async def delete(self, source: SourceRow, thread_id: int, message_id: int) -> None:
        hook = await self._webhook(source.channel_id)
        try:
            await hook.delete_message(message_id, thread=discord.Object(thread_id))
        except discord.NotFound:
            pass  # already gone: that is what we wanted
        except discord.HTTPException as exc:
            raise _refusal(exc, "delete a mirrored comment") from None

    async def recent(self, source: SourceRow, thread_id: int, limit: int) -> list[PostedMessage]:
        hook = await self._webhook(source.channel_id)
        thread = await self._channel(thread_id)
        if not isinstance(thread, discord.Thread):
            raise ThreadGone(f"{thread_id} is not a thread")
        found = []
        try:
            async for message in thread.history(limit=limit):
                if message.webhook_id == hook.id:
                    found.append(
                        PostedMessage(message.id, tuple(e.footer.text or "" for e in message.embeds))
                    )
        except discord.HTTPException as exc:
            raise _refusal(exc, "read the thread's history") from None
        return found


def _describe(row: SourceRow) -> str:
    if row.paused:
        state = "⏸ paused"
    elif row.status == "failing":
        state = f"⚠ failing ({row.failures}×): {row.last_error or 'unknown error'}"
    elif row.status == "ok":
        state = "✅ ok"
    else:
        state = "⏳ first sync pending"
    # Only the site's words are neutralised: the channel mention is ours and must stay a link.
    return f"**#{row.id}** {row.kind} <{neutralise(row.url)}> → <#{row.channel_id}> — {neutralise(state)}"


@app_commands.guild_only()
@app_commands.default_permissions(MODERATOR_PERMISSIONS)
class Mirror(
    ModeratorCog,
    commands.GroupCog,
    group_name="mirror",
    group_description="Mirror article comment threads into Discord",
):
    def __init__(self, bot: CommentWarden) -> None:
        self.bot = bot
        settings = bot.settings
        self.http = HttpClient(
            allow_private=settings.allow_private_urls,
            timeout=settings.http_timeout,
            max_bytes=settings.max_response_bytes,
        )
        self.publisher = DiscordPublisher(bot)
        self._sources: dict[tuple[int, str], Source] = {}
        self.engine = MirrorEngine(
            bot.store,
            bot.scorer,
            self.publisher,
            self._open,
            judge=Judge.of(settings.thresholds, bot.scorer.labels),
        )
        self.engine.events.subscribe(self._forward)
        self.scheduler = MirrorScheduler(
            bot.store,
            self.engine,
            interval=settings.poll_interval,
            ready=bot.wait_until_ready,
            owns=bot.owns_guild,
        )
        super().__init__()

    async def cog_load(self) -> None:
        self.scheduler.start()

    async def cog_unload(self) -> None:
        await self.scheduler.stop()
        await self.http.close()
        # Moderation may still be handling the last events the scheduler emitted: let it finish.
        await self.bot.drain_events()

    def _forward(self, event: CommentScored | CommentRemoved) -> None:
        """Moderation listens with `on_comment_scored(event)` and `on_comment_removed(event)`."""
        self.bot.dispatch(EVENT if isinstance(event, CommentScored) else REMOVED_EVENT, event)

    async def _open(self, row: SourceRow) -> Source:
        """Sources are kept between polls: a WordPress source remembers its REST route, a feed its validators."""
        key = (row.id, row.url)
        if key not in self._sources:
            self._sources[key] = await open_source(
                row.url, http=self.http, settings=self.bot.settings, kind=row.kind
            )
        return self._sources[key]

    async def _guild_source(self, interaction: discord.Interaction, source_id: int) -> SourceRow | None:
        row = await self.bot.store.mirror.source(source_id)
        if row is None or interaction.guild is None or row.guild_id != interaction.guild.id:
            await interaction.response.send_message(
                f"There is no source #{source_id} in this server; `/mirror list` shows them.", ephemeral=True
            )
            return None
        return row

    async def source_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild is None or not await is_moderator(interaction):
            return []
        rows = await self.bot.store.mirror.sources(interaction.guild.id)
        choices = []
        for row in rows:
            label = f"#{row.id} {row.url}"
            if current.lower() in label.lower():
                choices.append(app_commands.Choice(name=label[:100], value=row.id))
        return choices[:25]

    @staticmethod
    async def _answer(interaction: discord.Interaction, text: str) -> None:
        """A follow-up that echoes what a moderator or a site gave (a 2,000-character URL, a site's error):
        neutralised and clipped to one message."""
        await interaction.followup.send(
            clip(neutralise(text), MESSAGE_LIMIT), ephemeral=True, allowed_mentions=NO_PINGS
        )

    # -- commands -------------------------------------------------------------------------------------

    @app_commands.command(
        name="add", description="Mirror an article's comments (WordPress post, feed, thread file)"
    )
    @app_commands.describe(
        url="The article, comment feed or thread file URL", channel="The text or forum channel to mirror into"
    )
    async def add(
        self,
        interaction: discord.Interaction,
        url: app_commands.Range[str, 1, 2000],
        channel: discord.TextChannel | discord.ForumChannel,
    ) -> None:
        guild = command_guild(interaction)
        spec = url.strip()
        is_url = spec.lower().startswith(("http://", "https://")) or "://" in spec
        if not is_url and not self.bot.settings.allow_private_urls:
            # A path names a file on the bot's own machine: only an operator who allows local sources may.
            await interaction.response.send_message(
                "Give an http(s) URL; local thread files need ALLOW_PRIVATE_URLS on the bot.", ephemeral=True
            )
            return
        me = guild.me
        perms = channel.permissions_for(me)
        needed = ["manage_webhooks", "send_messages_in_threads", "read_message_history"]
        needed.append(
            "send_messages" if isinstance(channel, discord.ForumChannel) else "create_public_threads"
        )
        missing = [p for p in needed if not getattr(perms, p)]
        if missing:
            await interaction.response.send_message(
                f"I need {', '.join(p.replace('_', ' ').title() for p in missing)} in {channel.mention} to mirror there.",
                ephemeral=True,
            )
            return
        # Everything below may wait on the network (DNS alone can take seconds): Discord wants an answer in 3.
        await interaction.response.defer(ephemeral=True, thinking=True)
        if is_url:
            try:
                spec = await validate_url(spec, allow_private=self.bot.settings.allow_private_urls)
            except UnsafeUrlError as exc:
                await self._answer(interaction, f"That URL cannot be mirrored: {exc}")
                return
        try:
            source = await open_source(spec, http=self.http, settings=self.bot.settings)
        except SourceError as exc:
            await self._answer(interaction, f"I cannot mirror that: {exc.reason}")
            return
        # source.url, not spec: a thread file is keyed by its real path, however the moderator typed it.
        row = await self.bot.store.mirror.add_source(
            guild.id, channel.id, source.kind, source.url, created_by=interaction.user.id
        )
        if row.channel_id != channel.id:
            await interaction.followup.send(
                f"That URL is already mirrored as #{row.id} into <#{row.channel_id}>.", ephemeral=True
            )
            return
        self._sources[(row.id, row.url)] = source
        self.scheduler.wake()
        await interaction.followup.send(
            f"Mirroring source #{row.id} ({source.kind}) into {channel.mention}; the first sync has started. "
            "`/mirror list` shows how it goes.",
            ephemeral=True,
        )

    @app_commands.command(name="list", description="Show the mirrored sources and their status")
    async def list_sources(self, interaction: discord.Interaction) -> None:
        guild = command_guild(interaction)
        rows = await self.bot.store.mirror.sources(guild.id)
        if not rows:
            await interaction.response.send_message(
                "Nothing is mirrored here yet; add a source with `/mirror add`.", ephemeral=True
            )
            return
        parts = split_message("\n".join(_describe(r) for r in rows), MESSAGE_LIMIT)
        await interaction.response.send_message(parts[0], ephemeral=True, allowed_mentions=NO_PINGS)
        for part in parts[1:]:
            await interaction.followup.send(part, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="remove", description="Stop mirroring a source (its threads stay)")
    @app_commands.describe(source="The source number from /mirror list")
    @app_commands.autocomplete(source=source_autocomplete)
    async def remove(self, interaction: discord.Interaction, source: int) -> None:
        row = await self._guild_source(interaction, source)
        if row is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.scheduler.cancel(row.id)
        async with self.engine.lock(row.id):
            await self.bot.store.mirror.remove_source(row.guild_id, row.id)
        self._sources.pop((row.id, row.url), None)
        await interaction.followup.send(
            f"Stopped mirroring #{row.id}; its threads stay in Discord.", ephemeral=True
        )

    @app_commands.command(name="sync", description="Sync a source now (or every source of this server)")
    @app_commands.describe(source="The source number from /mirror list (all when left out)")
    @app_commands.autocomplete(source=source_autocomplete)
    async def sync(self, interaction: discord.Interaction, source: int | None = None) -> None:
        guild = command_guild(interaction)
        if source is not None:
            row = await self._guild_source(interaction, source)
            if row is None:
                return
            rows = [row]
        else:
            rows = await self.bot.store.mirror.sources(guild.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        lines = []
        for row in rows:
            if row.paused:
                lines.append(f"#{row.id}: paused; `/mirror resume` it first.")
                continue
            try:
                report = await self.scheduler.sync_now(row)
            except SyncFailed as exc:
                lines.append(f"#{row.id}: failed: {exc.reason}")
            else:
                lines.append(f"#{row.id}: {report.summary()}.")
        text = neutralise("\n".join(lines) or "Nothing is mirrored here yet.")
        for part in split_message(text, MESSAGE_LIMIT):
            await interaction.followup.send(part, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="pause", description="Stop polling a source until resumed")
    @app_commands.autocomplete(source=source_autocomplete)
    async def pause(self, interaction: discord.Interaction, source: int) -> None:
        row = await self._guild_source(interaction, source)
        if row is None:
            return
        await self.bot.store.mirror.set_paused(row.guild_id, row.id, True)
        await interaction.response.send_message(f"Paused #{row.id}.", ephemeral=True)

    @app_commands.command(name="resume", description="Poll a paused source again")
    @app_commands.autocomplete(source=source_autocomplete)
    async def resume(self, interaction: discord.Interaction, source: int) -> None:
        row = await self._guild_source(interaction, source)
        if row is None:
            return
        await self.bot.store.mirror.set_paused(row.guild_id, row.id, False)
        self.scheduler.wake()
        await interaction.response.send_message(f"Resumed #{row.id}; it syncs shortly.", ephemeral=True)


async def setup(bot: CommentWarden) -> None:
    cog = Mirror(bot)
    await bot.add_cog(cog)
    bot.mirror_engine = cog.engine  # the moderation extension, loaded next, removes comments through it


async def teardown(bot: CommentWarden) -> None:
    bot.mirror_engine = None
