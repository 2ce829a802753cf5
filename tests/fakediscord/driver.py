"""What tests call to play the users: post and edit messages, run commands, click, fill in modals.

Each action builds the gateway event real Discord would send and dispatches it to the connected bot;
interaction helpers wait (by default) until the bot has answered and return the
:class:`FakeInteraction` holding that answer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    FakeInteraction,
    find_component,
)
from .messages import iter_components, resolve_mentions
from .models import Attachment, Channel, Member, Message, User
from .permissions import ALL_PERMISSIONS, base_permissions

if TYPE_CHECKING:
    from .server import FakeDiscord

    _Base = FakeDiscord
else:
    _Base = object

_SELECTS = (3, 5, 6, 7, 8)


class DriverMixin(_Base):
    # -- reading ----------------------------------------------------------------------------------
    async def wait_until(self, predicate: Any, within: float = 5.0) -> Any:
        return await self.state.wait_until(predicate, within)

    def messages(self, channel: Channel | int) -> list[Message]:
        """Live messages of a channel or thread, oldest first."""
        return self.state.channel_messages(channel.id if isinstance(channel, Channel) else channel)

    def commands(self, guild: Any = None) -> list[dict[str, Any]]:
        """Synced application commands: global ones, or those of ``guild``."""
        return self.state.commands.get(guild.id if guild is not None else None, [])

    # -- messages ---------------------------------------------------------------------------------
    async def send_message(
        self,
        channel: Channel,
        author: Member | User,
        content: str = "",
        *,
        embeds: Sequence[dict[str, Any]] = (),
        attachments: Sequence[tuple[str, bytes]] = (),
        reply_to: Message | None = None,
        message_id: int | None = None,
    ) -> Message:
        """A user posts in ``channel`` (MESSAGE_CREATE); ``attachments`` are (filename, bytes) pairs."""
        user = author.user if isinstance(author, Member) else author
        guild = self.state.guild_of(channel)
        member = self.state.member(guild, user.id) if guild is not None else None
        message = Message(
            id=message_id or self.state.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=user,
            author_member=member,
            content=content,
            embeds=list(embeds),
        )
        message.attachments = [
            self.make_attachment(channel.id, name, data, keep=False) for name, data in attachments
        ]
        if reply_to is not None:
            message.type = 19
            message.message_reference = {
                "type": 0,
                "message_id": str(reply_to.id),
                "channel_id": str(reply_to.channel_id),
            }
        resolve_mentions(message, self.state, guild)
        self.publish(message)
        return message

    async def edit_message(self, message: Message, content: str) -> Message:
        """The author edits ``message`` (MESSAGE_UPDATE)."""
        message.content = content
        message.edited_at = time.time()
        resolve_mentions(message, self.state, self.state.guilds.get(message.guild_id or 0))
        self.state.notify()
        self.gateway.dispatch_message("MESSAGE_UPDATE", message)
        return message

    async def delete_message(self, message: Message) -> None:
        """The author deletes ``message`` (MESSAGE_DELETE)."""
        self.delete(message)

    async def add_reaction(self, message: Message, user: Member | User, emoji: str) -> None:
        uid = user.id
        message.reactions.setdefault(emoji, set()).add(uid)
        self.state.notify()
        self.gateway.dispatch("MESSAGE_REACTION_ADD", self.reaction_payload(message, emoji, uid))

    async def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send any gateway event as is (e.g. AUTO_MODERATION_ACTION_EXECUTION); returns sessions reached."""
        return self.gateway.dispatch(event, data)

    def make_attachment(
        self, channel_id: int, filename: str, data: bytes, *, keep: bool = True
    ) -> Attachment:
        attachment_id = self.state.ids.next()
        attachment = Attachment(
            id=attachment_id,
            filename=filename,
            data=data,
            url=self.attachment_url(channel_id, attachment_id, filename),
        )
        if keep:
            self._loose_attachments.append(attachment)
        return attachment

    # -- interactions -----------------------------------------------------------------------------
    def _find_command(self, name: str, channel: Channel, kind: int) -> dict[str, Any]:
        for scope in (channel.guild_id, None):
            for command in self.state.commands.get(scope, []):
                if command["name"] == name and command["type"] == kind:
                    return command
        raise LookupError(
            f"no synced command {name!r} of type {kind}; synced: "
            f"{[c['name'] for cs in self.state.commands.values() for c in cs]}"
        )

    def _check_command_permission(
        self, command: dict[str, Any], user: Member | User, channel: Channel
    ) -> None:
        """Discord hides commands whose default_member_permissions the member lacks."""
        required = command.get("default_member_permissions")
        if required is None or not isinstance(user, Member):
            return
        have = base_permissions(self.state.guild(user.guild_id), user)
        if have != ALL_PERMISSIONS and int(required) & ~have:
            raise PermissionError(f"{user.user.username} cannot use /{command['name']} (needs {required})")

    def _start(
        self,
        payload: dict[str, Any],
        author: User,
        guild_id: int | None,
        channel: Channel,
        *,
        source: Message | None = None,
        command_type: int | None = None,
    ) -> FakeInteraction:
        if not self.gateway.live_sessions:
            raise RuntimeError("no bot session is connected to the fake")
        interaction = FakeInteraction(
            id=int(payload["id"]),
            token=payload["token"],
            type=payload["type"],
            payload=payload,
            user=author,
            guild_id=guild_id,
            channel_id=channel.id,
            state=self.state,
            source_message=source,
            command_type=command_type,
        )
        self.interactions[interaction.id] = interaction
        self.gateway.dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def invoke_slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: Member | User,
        channel: Channel,
        wait: bool = True,
        within: float = 5.0,
    ) -> FakeInteraction:
        """Run ``/name`` (``"group sub"`` for subcommands) with ``options`` typed by the synced schema.

        User/member options take a Member, User or id; channel options a Channel or id; role options a Role
        or id; attachment options a (filename, bytes) pair. Waits until the bot's answer is settled.
        """
        interaction = self._slash(name, options or {}, user=user, channel=channel, focused=None)
        if wait:
            await interaction.wait_settled(within)
        return interaction

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        user: Member | User,
        channel: Channel,
        within: float = 5.0,
    ) -> list[dict[str, Any]]:
        interaction = self._slash(name, options, user=user, channel=channel, focused=focused)
        await interaction.wait_response(within)
        return interaction.choices or []

    def _slash(
        self,
        name: str,
        options: dict[str, Any],
        *,
        user: Member | User,
        channel: Channel,
        focused: str | None,
    ) -> FakeInteraction:
        top, *path = name.split()
        command = self._find_command(top, channel, 1)
        self._check_command_permission(command, user, channel)
        payload, author, guild_id = self._builder.base(
            AUTOCOMPLETE if focused else APPLICATION_COMMAND, user, channel
        )
        resolved: dict[str, Any] = {}
        schema = command.get("options") or []
        wrappers: list[dict[str, Any]] = []
        for part in path:
            node = next((o for o in schema if o["name"] == part and o["type"] in (1, 2)), None)
            if node is None:
                raise LookupError(f"/{top} has no subcommand {part!r}")
            wrappers.append({"name": part, "type": node["type"]})
            schema = node.get("options") or []
        if any(o["type"] in (1, 2) for o in schema):
            raise ValueError(f"/{name} needs a subcommand")
        leaf = self._builder.command_options(schema, options, resolved, guild_id, channel, focused)
        for wrapper in reversed(wrappers):
            wrapper["options"] = leaf
            leaf = [wrapper]
        data: dict[str, Any] = {"id": command["id"], "name": top, "type": 1, "options": leaf}
        if resolved:
            data["resolved"] = resolved
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        payload["data"] = data
        return self._start(payload, author, guild_id, channel, command_type=1)

    async def invoke_context_menu(
        self,
        name: str,
        target: Message | Member | User,
        *,
        user: Member | User,
        channel: Channel,
        wait: bool = True,
        within: float = 5.0,
    ) -> FakeInteraction:
        """Run a user (target Member/User) or message (target Message) context-menu command."""
        kind = 3 if isinstance(target, Message) else 2
        command = self._find_command(name, channel, kind)
        self._check_command_permission(command, user, channel)
        payload, author, guild_id = self._builder.base(APPLICATION_COMMAND, user, channel)
        resolved: dict[str, Any] = {}
        if isinstance(target, Message):
            resolved["messages"] = {str(target.id): self.rest_message_payload(target)}
            target_id = str(target.id)
        else:
            target_id = self._builder.resolved_user(resolved, target, guild_id, channel)
        payload["data"] = {
            "id": command["id"],
            "name": name,
            "type": kind,
            "target_id": target_id,
            "resolved": resolved,
        }
        interaction = self._start(payload, author, guild_id, channel, command_type=kind)
        if wait:
            await interaction.wait_settled(within)
        return interaction

    def _component(self, message: Message, user: Member | User, data: dict[str, Any]) -> FakeInteraction:
        channel = self.state.channel(message.channel_id)
        payload, author, guild_id = self._builder.base(MESSAGE_COMPONENT, user, channel)
        payload["message"] = message.to_payload()
        payload["data"] = data
        return self._start(payload, author, guild_id, channel, source=message)

    async def click_button(
        self, message: Message, custom_id: str, *, user: Member | User, wait: bool = True, within: float = 5.0
    ) -> FakeInteraction:
        """Click the button ``custom_id`` on ``message`` (it must be there and enabled)."""
        component = find_component(message, custom_id)
        if component.get("type") != 2:
            raise ValueError(f"{custom_id!r} is not a button")
        interaction = self._component(message, user, {"custom_id": custom_id, "component_type": 2})
        if wait:
            await interaction.wait_settled(within)
        return interaction

    async def select(
        self,
        message: Message,
        custom_id: str,
        values: Sequence[str],
        *,
        user: Member | User,
        wait: bool = True,
        within: float = 5.0,
    ) -> FakeInteraction:
        """Pick ``values`` in the select menu ``custom_id`` (string selects check the offered options)."""
        component = find_component(message, custom_id)
        kind = component.get("type")
        if kind not in _SELECTS:
            raise ValueError(f"{custom_id!r} is not a select menu")
        if kind == 3:
            offered = {o["value"] for o in component.get("options") or []}
            if not set(values) <= offered:
                raise ValueError(f"{sorted(set(values) - offered)} not offered by {custom_id!r}")
        interaction = self._component(
            message, user, {"custom_id": custom_id, "component_type": kind, "values": list(values)}
        )
        if wait:
            await interaction.wait_settled(within)
        return interaction

    async def submit_modal(
        self,
        source: FakeInteraction,
        fields: dict[str, str],
        *,
        user: Member | User | None = None,
        wait: bool = True,
        within: float = 5.0,
    ) -> FakeInteraction:
        """Fill in and submit the modal the bot showed in answer to ``source``.

        ``fields`` maps text-input custom_id to value; unknown ids, missing required inputs and length
        limits fail here as the Discord client would refuse them.
        """
        modal = source.modal
        if modal is None:
            raise ValueError("the bot did not answer this interaction with a modal")
        components = [_submitted(c, fields) for c in modal.get("components") or []]
        inputs = {
            c["custom_id"] for c in iter_components(modal.get("components") or []) if c.get("type") == 4
        }
        unknown = set(fields) - inputs
        if unknown:
            raise ValueError(f"modal {modal['custom_id']!r} has no inputs {sorted(unknown)}")
        channel = self.state.channel(source.channel_id)
        member = user or self._member_or_user(source)
        payload, author, guild_id = self._builder.base(MODAL_SUBMIT, member, channel)
        payload["data"] = {"custom_id": modal["custom_id"], "components": components}
        if source.source_message is not None:
            payload["message"] = source.source_message.to_payload()
        interaction = self._start(payload, author, guild_id, channel, source=source.source_message)
        if wait:
            await interaction.wait_settled(within)
        return interaction

    def _member_or_user(self, interaction: FakeInteraction) -> Member | User:
        guild = self.state.guilds.get(interaction.guild_id or 0)
        if guild is not None and interaction.user.id in guild.members:
            return guild.members[interaction.user.id]
        return interaction.user


def _submitted(component: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """The submission shape of one modal component (action rows and labels keep their nesting)."""
    kind = component.get("type")
    if kind == 1:
        return {"type": 1, "components": [_submitted(c, fields) for c in component.get("components") or []]}
    if kind == 18:
        out = {"type": 18, "component": _submitted(component["component"], fields)}
        if "id" in component:
            out["id"] = component["id"]
        return out
    if kind == 4:
        custom_id = component["custom_id"]
        value = fields.get(custom_id, component.get("value") or "")
        if component.get("required", True) and not value:
            raise ValueError(f"required modal input {custom_id!r} left empty")
        if value and not component.get("min_length", 0) <= len(value) <= component.get("max_length", 4000):
            raise ValueError(f"modal input {custom_id!r} length {len(value)} outside its limits")
        out = {"type": 4, "custom_id": custom_id, "value": value}
        if "id" in component:
            out["id"] = component["id"]
        return out
    out = {"type": kind}
    if "id" in component:
        out["id"] = component["id"]
    if component.get("custom_id"):
        out["custom_id"] = component["custom_id"]
        out["values"] = []
    return out
