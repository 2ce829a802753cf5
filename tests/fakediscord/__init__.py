"""A fake Discord (REST + gateway) on loopback, so the real discord.py 2.7.1 client runs against it.

Use it through the fixtures in ``tests/fixtures/discord.py``::

    async def test_x(fake_discord, discord_world, bot_runner):
        w = discord_world                                  # DefaultWorld: guild, general, forum, review,
                                                           # moderator, member, owner, moderator_role
        async with bot_runner(create_bot(settings)) as bot:  # logged in, READY, commands synced
            i = await fake_discord.invoke_slash("toxicity", {"text": "hi"}, user=w.moderator, channel=w.general)
            assert i.ephemeral and "hi" in i.content

``bot_runner(bot)`` yields once the bot is READY (its ``setup_hook``, command sync included, has run); run a
second bot (restart tests) with another ``async with bot_runner(new_bot)`` on the same fake state. Markers:
``@pytest.mark.fake_discord(ratelimits=True | {"family": (limit, per_s)}, privileged_intents=int)``.

World (``fake`` is the :class:`FakeDiscord`; all of it is plain dataclasses in ``models.py``)
    ``fake.create_guild(name)``, ``create_role(guild, name, permissions)``, ``create_member(guild, name,
    roles=[...])``, ``create_user``, ``add_member``, ``create_text_channel(guild, name, overwrites=...)``,
    ``create_forum_channel(guild, name, tags=...)``, ``create_category``, ``create_thread(parent, name,
    owner=)``, ``await create_forum_post(forum, name, author=, content=)``, ``set_bot_permissions(guild, perms)``.
    Permission bits: ``permissions.Perm`` (``MODERATOR_DEFAULT``, ``BOT_DEFAULT``, ``EVERYONE_DEFAULT``).
    ``fake.bot_user``, ``fake.application_id``, ``fake.token``.

State to assert on
    ``fake.messages(channel)`` live messages oldest first (:class:`Message`: content, embeds, components,
    attachments with ``.data`` bytes, ``allowed_mentions`` exactly as sent, ``mention_user_ids`` /
    ``mention_role_ids`` / ``mention_everyone`` = who Discord would really ping, ``webhook_id``,
    ``author.username`` (webhook username), ``avatar_url``, ``flags``, ``edited_at``, ``deleted``).
    ``fake.state``: ``guilds`` (→ ``members`` with ``communication_disabled_until``, ``roles``, ``channels``
    incl. threads, ``bans``, ``audit_log``), ``channels``, ``message_index`` (every message ever, incl.
    ephemeral/deleted), ``webhooks``, ``commands`` (guild id or None → synced list), ``command_syncs``,
    ``threads_of(channel_id)``, ``dm_channel(user_id)``. ``fake.commands(guild=None)``.
    ``fake.requests`` (every REST call: method, path, query, status, at), ``fake.interactions``.
    ``await fake.wait_until(lambda: ..., within=5)`` returns the first truthy value of the predicate.

Playing users (each dispatches the real gateway event)
    ``await fake.send_message(channel, member, content, attachments=[(name, bytes)], reply_to=msg)``,
    ``edit_message(msg, content)``, ``delete_message(msg)``, ``add_reaction(msg, member, "👍")``,
    ``await fake.dispatch("AUTO_MODERATION_ACTION_EXECUTION", data)`` for any other event.
    Interactions return a :class:`FakeInteraction` after the bot's answer is settled (``wait=False`` to
    return at once, ``within=`` seconds to wait; ``TimeoutError`` if the bot never answers):
    ``await fake.invoke_slash("mirror add", {"url": ..., "channel": chan}, user=m, channel=c)`` (options
    typed by the synced schema; ``PermissionError`` if ``default_member_permissions`` hides it),
    ``invoke_context_menu(name, message_or_member, user=, channel=)``, ``autocomplete(name, opts, focused,
    user=, channel=)`` → choices, ``click_button(message, custom_id, user=)``, ``select(message, custom_id,
    values, user=)``, ``submit_modal(interaction_that_got_modal, {input_id: value}, user=)``.
    A :class:`FakeInteraction` has ``response_type``, ``content``, ``embeds``, ``attachments``,
    ``ephemeral``, ``deferred``, ``message`` (the response / component message), ``followups``,
    ``modal``, ``choices``, ``callbacks`` (raw bodies) and ``wait_response`` / ``wait_settled`` /
    ``wait_followups(n)``. Discord's rules are enforced: 3 s to acknowledge (``fake.interaction_ack_deadline``),
    a second ack is 400/40060, follow-ups before the ack are 404, the first follow-up after a thinking
    deferral replaces it.

Faults and limits
    ``fake.faults.fail_next("POST", "/webhooks/*", status=502, times=2)``, ``fake.faults.delay(method,
    pattern, seconds)``; ``fake.ratelimits.enable({"webhook_execute": (5, 2.0)})``, ``.served_429``,
    ``.served_429_by_family`` (families: webhook_execute, messages_create/edit/delete, member_edit, …; plus
    a 50/s global limit); ``fake.gateway.disconnect()`` (client RESUMEs and gets events dispatched
    meanwhile replayed; ``await fake.gateway.wait_disconnected()``),
    ``await fake.gateway.invalidate_sessions()`` (client re-IDENTIFYs),
    ``fake.gateway.request_reconnect()``, ``fake.gateway.reject_next_resume``. Note discord.py itself
    sleeps 5 s before a non-initial IDENTIFY (override ``before_identify_hook`` in such tests); counters
    ``gateway.identifies`` / ``resumes`` / ``replayed`` / ``heartbeats`` / ``member_requests``.

Strictness: routes the fake lacks, fake bugs and gateway protocol errors are collected in
``fake.problems()`` and fail the test at teardown; the ``discord_errors`` fixture (used by ``bot_runner``)
fails it on ERROR records from the ``discord`` and ``asyncio`` loggers (``discord_errors.expect(regex)``
to allow one). Without the message-content intent, content is blanked as on Discord. The bot's own
permissions are enforced (403/50013, 50001) from its managed role and channel overwrites, message and
embed limits (2000 chars, 10 embeds, 6000 embed chars, http(s) URLs) are 400/50035, command sync
payloads are validated, and webhook message edits must carry the ``thread_id`` of a thread message.
Injected 500/502s are real to the client: discord.py sleeps 1 s, 3 s, … before each retry.
"""

from .interactions import FakeInteraction
from .models import Attachment, Channel, Guild, Member, Message, Role, User, Webhook
from .permissions import BOT_DEFAULT, EVERYONE_DEFAULT, MODERATOR_DEFAULT, Perm
from .server import FakeDiscord
from .world import DefaultWorld

__all__ = [
    "BOT_DEFAULT",
    "EVERYONE_DEFAULT",
    "MODERATOR_DEFAULT",
    "Attachment",
    "Channel",
    "DefaultWorld",
    "FakeDiscord",
    "FakeInteraction",
    "Guild",
    "Member",
    "Message",
    "Perm",
    "Role",
    "User",
    "Webhook",
]
