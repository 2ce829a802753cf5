"""The fake Discord refuses what the real Discord refuses (shared/notes/discord-limits.md), one test per limit.

Each test sends the refused request over HTTP to the fake on loopback, checks Discord's error (status, code
and the field it names), and sends the nearest accepted request next to it, so the test shows that the limit,
not something else in the body, is what refused it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.fakediscord import FakeDiscord
from tests.fakediscord.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    MODAL,
    FakeInteraction,
)
from tests.fakediscord.limits import UPLOAD_LIMIT


class Api:
    """Raw REST calls with the bot's token, answering (status, JSON body)."""

    def __init__(self, fake: FakeDiscord, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.session = session

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> tuple[int, Any]:
        all_headers = {"Authorization": f"Bot {self.fake.token}", **(headers or {})}
        kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
        async with self.session.request(
            method, self.fake.api_base + path, headers=all_headers, **kwargs
        ) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None


@pytest.fixture
async def api(fake_discord: FakeDiscord) -> Any:
    async with aiohttp.ClientSession() as session:
        yield Api(fake_discord, session)


def refused(answer: tuple[int, Any], field: str | None = None, status: int = 400) -> None:
    """The answer is Discord's refusal, naming `field` (dotted) in its nested `errors` when given."""
    code, body = answer
    assert code == status, answer
    if field is None:
        return
    node = body["errors"]
    for part in field.split("."):
        node = node[part]
    assert node["_errors"], body


def accepted(answer: tuple[int, Any]) -> None:
    assert answer[0] in (200, 204), answer


async def post(api: Api, fake: FakeDiscord, payload: dict[str, Any]) -> tuple[int, Any]:
    assert fake.world is not None
    return await api.call("POST", f"/channels/{fake.world.general.id}/messages", payload)


async def webhook(api: Api, fake: FakeDiscord) -> str:
    assert fake.world is not None
    status, hook = await api.call("POST", f"/channels/{fake.world.general.id}/webhooks", {"name": "hook"})
    assert status == 200, hook
    return f"/webhooks/{hook['id']}/{hook['token']}?wait=true"


def interaction(fake: FakeDiscord, kind: int) -> FakeInteraction:
    """An interaction the bot could answer, registered with the fake as INTERACTION_CREATE would."""
    assert fake.world is not None
    made = FakeInteraction(
        id=fake.state.ids.next(),
        token=f"token-{fake.state.ids.next()}",
        type=kind,
        payload={},
        user=fake.world.moderator.user,
        guild_id=fake.world.guild.id,
        channel_id=fake.world.general.id,
        state=fake.state,
    )
    fake.interactions[made.id] = made
    return made


async def callback(api: Api, made: FakeInteraction, body: dict[str, Any]) -> tuple[int, Any]:
    return await api.call("POST", f"/interactions/{made.id}/{made.token}/callback", body)


def button(n: int, **extra: Any) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": f"b{n}", "custom_id": f"id{n}", **extra}


def row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


# -- webhooks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "avatar",
    [
        "/e1/avatar.png",
        "//img.example/1.png",
        "img.example/1.png",
        "ftp://img.example/1",
        "https://",
        "https://img example/1.png",
        "javascript:alert(1)",
    ],
)
async def test_webhook_avatar_url_must_be_absolute_http(
    fake_discord: FakeDiscord, api: Api, avatar: str
) -> None:
    hook = await webhook(api, fake_discord)
    refused(await api.call("POST", hook, {"content": "hi", "avatar_url": avatar}), "avatar_url")
    accepted(await api.call("POST", hook, {"content": "hi", "avatar_url": "https://img.example/1.png"}))


@pytest.mark.parametrize(
    "username",
    ["everyone", "Here", " HERE ", "System  Message", "my discord bot", "Clyde", "a```b", "", "x" * 81],
)
async def test_webhook_username_refuses_reserved_names(
    fake_discord: FakeDiscord, api: Api, username: str
) -> None:
    hook = await webhook(api, fake_discord)
    refused(await api.call("POST", hook, {"content": "hi", "username": username}), "username")
    accepted(await api.call("POST", hook, {"content": "hi", "username": "Where everyone reads (comment)"}))


async def test_webhook_name_refuses_reserved_names_at_creation(fake_discord: FakeDiscord, api: Api) -> None:
    assert fake_discord.world is not None
    path = f"/channels/{fake_discord.world.general.id}/webhooks"
    refused(await api.call("POST", path, {"name": "everyone"}), "name")
    accepted(await api.call("POST", path, {"name": "commentwarden"}))


# -- embeds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "embed, field",
    [
        ({"title": "t", "url": "news.example/article"}, "embeds.0.url"),
        ({"title": "t", "url": "https://"}, "embeds.0.url"),
        ({"title": "t", "url": "https://news.example/a b"}, "embeds.0.url"),
        ({"title": "t", "url": "https://news.example:99999/"}, "embeds.0.url"),
        ({"description": "d", "author": {"name": "a", "url": "/e1#comment-1"}}, "embeds.0.author.url"),
        (
            {"description": "d", "author": {"name": "a", "icon_url": "//img.example/1.png"}},
            "embeds.0.author.icon_url",
        ),
        ({"description": "d", "thumbnail": {"url": "data:image/png;base64,AAAA"}}, "embeds.0.thumbnail.url"),
    ],
)
async def test_embed_urls_must_be_well_formed(
    fake_discord: FakeDiscord, api: Api, embed: dict[str, Any], field: str
) -> None:
    refused(await post(api, fake_discord, {"embeds": [embed]}), field)
    accepted(
        await post(api, fake_discord, {"embeds": [{"title": "t", "url": "https://news.example/a?b=(c)"}]})
    )


@pytest.mark.parametrize("colour", [-1, 0x1000000, True, "red"])
async def test_embed_colour_is_a_24_bit_integer(fake_discord: FakeDiscord, api: Api, colour: Any) -> None:
    refused(
        await post(api, fake_discord, {"embeds": [{"description": "d", "color": colour}]}), "embeds.0.color"
    )
    accepted(await post(api, fake_discord, {"embeds": [{"description": "d", "color": 0xFFFFFF}]}))


@pytest.mark.parametrize("stamp", ["yesterday", "2026-13-01T00:00:00Z", "1700000000"])
async def test_embed_timestamp_is_iso_8601(fake_discord: FakeDiscord, api: Api, stamp: str) -> None:
    refused(
        await post(api, fake_discord, {"embeds": [{"description": "d", "timestamp": stamp}]}),
        "embeds.0.timestamp",
    )
    accepted(
        await post(
            api, fake_discord, {"embeds": [{"description": "d", "timestamp": "2026-01-02T10:00:00+00:00"}]}
        )
    )


@pytest.mark.parametrize("value", [" ", "\n\t "])
async def test_embed_field_value_may_not_be_blank(fake_discord: FakeDiscord, api: Api, value: str) -> None:
    embed = {"description": "d", "fields": [{"name": "Author", "value": value}]}
    refused(await post(api, fake_discord, {"embeds": [embed]}), "embeds.0.fields.0.value")
    accepted(
        await post(
            api, fake_discord, {"embeds": [{"description": "d", "fields": [{"name": "A", "value": "x"}]}]}
        )
    )


# -- components ------------------------------------------------------------------------------------


async def test_at_most_five_action_rows(fake_discord: FakeDiscord, api: Api) -> None:
    rows = [row(button(n)) for n in range(6)]
    refused(await post(api, fake_discord, {"content": "c", "components": rows}), "components")
    accepted(await post(api, fake_discord, {"content": "c", "components": rows[:5]}))


async def test_at_most_five_buttons_a_row(fake_discord: FakeDiscord, api: Api) -> None:
    buttons = [button(n) for n in range(6)]
    refused(
        await post(api, fake_discord, {"content": "c", "components": [row(*buttons)]}),
        "components.0.components",
    )
    accepted(await post(api, fake_discord, {"content": "c", "components": [row(*buttons[:5])]}))


async def test_button_label_at_most_80(fake_discord: FakeDiscord, api: Api) -> None:
    refused(
        await post(api, fake_discord, {"content": "c", "components": [row(button(1, label="x" * 81))]}),
        "components.0.components.0.label",
    )
    refused(
        await post(api, fake_discord, {"content": "c", "components": [row(button(1, label=""))]}),
        "components.0.components.0.label",
    )  # no label and no emoji
    accepted(await post(api, fake_discord, {"content": "c", "components": [row(button(1, label="x" * 80))]}))


async def test_link_button_needs_a_web_url(fake_discord: FakeDiscord, api: Api) -> None:
    link = {"type": 2, "style": 5, "label": "open"}
    refused(
        await post(api, fake_discord, {"content": "c", "components": [row({**link, "url": "/relative"})]}),
        "components.0.components.0.url",
    )
    accepted(
        await post(
            api, fake_discord, {"content": "c", "components": [row({**link, "url": "https://a.example"})]}
        )
    )


async def test_custom_id_at_most_100(fake_discord: FakeDiscord, api: Api) -> None:
    refused(
        await post(api, fake_discord, {"content": "c", "components": [row(button(1, custom_id="x" * 101))]}),
        "components.0.components.0.custom_id",
    )
    accepted(
        await post(api, fake_discord, {"content": "c", "components": [row(button(1, custom_id="x" * 100))]})
    )


async def test_select_placeholder_at_most_150(fake_discord: FakeDiscord, api: Api) -> None:
    select = {"type": 3, "custom_id": "s", "options": [{"label": "a", "value": "a"}]}
    refused(
        await post(
            api, fake_discord, {"content": "c", "components": [row({**select, "placeholder": "p" * 151})]}
        ),
        "components.0.components.0.placeholder",
    )
    accepted(
        await post(
            api, fake_discord, {"content": "c", "components": [row({**select, "placeholder": "p" * 150})]}
        )
    )


# -- modals ----------------------------------------------------------------------------------------


def modal(**text_input: Any) -> dict[str, Any]:
    field = {"type": 4, "custom_id": "reason", "style": 2, "label": "Reason", **text_input}
    return {"type": MODAL, "data": {"custom_id": "m", "title": "Why", "components": [row(field)]}}


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"label": "L" * 46}, "label"),
        ({"label": ""}, "label"),
        ({"placeholder": "p" * 101}, "placeholder"),
        ({"custom_id": "c" * 101}, "custom_id"),
        ({"max_length": 4001}, "max_length"),
        ({"min_length": -1}, "min_length"),
        ({"max_length": 10, "value": "v" * 11}, "value"),
    ],
)
async def test_modal_text_input_limits(
    fake_discord: FakeDiscord, api: Api, bad: dict[str, Any], field: str
) -> None:
    refused(
        await callback(api, interaction(fake_discord, APPLICATION_COMMAND), modal(**bad)),
        f"data.components.0.components.0.{field}",
    )
    accepted(
        await callback(
            api,
            interaction(fake_discord, APPLICATION_COMMAND),
            modal(label="L" * 45, placeholder="p" * 100, max_length=4000),
        )
    )


async def test_modal_label_component_limits(fake_discord: FakeDiscord, api: Api) -> None:
    """The newer layout: a label (type 18) wrapping the text input; its label is the input's label."""

    def labelled(label: str) -> dict[str, Any]:
        inner = {"type": 4, "custom_id": "reason", "style": 2}
        return {
            "type": MODAL,
            "data": {
                "custom_id": "m",
                "title": "Why",
                "components": [{"type": 18, "label": label, "component": inner}],
            },
        }

    refused(
        await callback(api, interaction(fake_discord, APPLICATION_COMMAND), labelled("L" * 46)),
        "data.components.0.label",
    )
    accepted(await callback(api, interaction(fake_discord, APPLICATION_COMMAND), labelled("Reason")))


async def test_modal_custom_id_and_title_limits(fake_discord: FakeDiscord, api: Api) -> None:
    body = modal()
    refused(
        await callback(
            api,
            interaction(fake_discord, APPLICATION_COMMAND),
            {**body, "data": {**body["data"], "custom_id": "m" * 101}},
        ),
        "data.custom_id",
    )
    refused(
        await callback(
            api,
            interaction(fake_discord, APPLICATION_COMMAND),
            {**body, "data": {**body["data"], "title": "t" * 46}},
        ),
        "data.title",
    )


# -- autocomplete and commands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "choice, field",
    [
        ({"name": "n" * 101, "value": "v"}, "name"),
        ({"name": "", "value": "v"}, "name"),
        ({"name": "n", "value": "v" * 101}, "value"),
    ],
)
async def test_autocomplete_choice_lengths(
    fake_discord: FakeDiscord, api: Api, choice: dict[str, Any], field: str
) -> None:
    refused(
        await callback(
            api,
            interaction(fake_discord, AUTOCOMPLETE),
            {"type": AUTOCOMPLETE_RESULT, "data": {"choices": [choice]}},
        ),
        f"data.choices.0.{field}",
    )
    accepted(
        await callback(
            api,
            interaction(fake_discord, AUTOCOMPLETE),
            {"type": AUTOCOMPLETE_RESULT, "data": {"choices": [{"name": "n" * 100, "value": 7}]}},
        )
    )


def command(**option_extra: Any) -> dict[str, Any]:
    option = {"type": 3, "name": "label", "description": "A label", **option_extra}
    return {"type": 1, "name": "tune", "description": "Tune", "options": [option]}


async def put_commands(api: Api, fake: FakeDiscord, commands: list[dict[str, Any]]) -> tuple[int, Any]:
    assert fake.world is not None
    return await api.call(
        "PUT", f"/applications/{fake.application_id}/guilds/{fake.world.guild.id}/commands", commands
    )


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"choices": [{"name": "n" * 101, "value": "v"}]}, "0.options.0.choices.0.name"),
        ({"choices": [{"name": "n", "value": "v" * 101}]}, "0.options.0.choices.0.value"),
        ({"description": "d" * 101}, "0.options.0.description"),
        ({"name": "n" * 33}, "0.options.0.name"),
    ],
)
async def test_command_option_and_choice_lengths(
    fake_discord: FakeDiscord, api: Api, extra: dict[str, Any], field: str
) -> None:
    refused(await put_commands(api, fake_discord, [command(**extra)]), field)
    accepted(
        await put_commands(api, fake_discord, [command(choices=[{"name": "n" * 100, "value": "v" * 100}])])
    )


async def test_command_of_more_than_4000_characters_refused(fake_discord: FakeDiscord, api: Api) -> None:
    """Every part within its own limit, 25 options × 25 choices of 100+100 characters: far past 4,000 together."""
    choices = [{"name": f"{i:02d}" + "n" * 98, "value": "v" * 100} for i in range(25)]
    options = [{"type": 3, "name": f"o{i}", "description": "d" * 100, "choices": choices} for i in range(25)]
    refused(
        await put_commands(
            api, fake_discord, [{"type": 1, "name": "big", "description": "d", "options": options}]
        ),
        "0",
    )
    small = [
        {"type": 3, "name": f"o{i}", "description": "d" * 100, "choices": choices[:1]} for i in range(10)
    ]
    accepted(
        await put_commands(
            api, fake_discord, [{"type": 1, "name": "big", "description": "d", "options": small}]
        )
    )


# -- allowed_mentions, audit-log reasons, uploads ---------------------------------------------------


@pytest.mark.parametrize(
    "mentions, field",
    [
        ({"parse": ["everyone", "channels"]}, "allowed_mentions.parse"),
        ({"parse": "users"}, "allowed_mentions.parse"),
        ({"users": [str(n) for n in range(101)]}, "allowed_mentions.users"),
        ({"roles": ["not-an-id"]}, "allowed_mentions.roles"),
        ({"parse": ["users"], "users": ["1"]}, "allowed_mentions"),
    ],
)
async def test_allowed_mentions_shape(
    fake_discord: FakeDiscord, api: Api, mentions: dict[str, Any], field: str
) -> None:
    refused(await post(api, fake_discord, {"content": "c", "allowed_mentions": mentions}), field)
    accepted(
        await post(api, fake_discord, {"content": "c", "allowed_mentions": {"parse": [], "users": ["1"]}})
    )


async def test_audit_log_reason_at_most_512(fake_discord: FakeDiscord, api: Api) -> None:
    assert fake_discord.world is not None
    path = f"/channels/{fake_discord.world.general.id}/webhooks"
    before = len(fake_discord.state.webhooks)
    refused(
        await api.call("POST", path, {"name": "hook"}, headers={"X-Audit-Log-Reason": "r" * 513}), "reason"
    )
    assert len(fake_discord.state.webhooks) == before  # refused before anything changed
    accepted(await api.call("POST", path, {"name": "hook"}, headers={"X-Audit-Log-Reason": "%C3%A9" * 512}))


async def test_upload_over_10_mib_refused(fake_discord: FakeDiscord, api: Api) -> None:
    def form(size: int) -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("payload_json", json.dumps({"content": "file"}), content_type="application/json")
        data.add_field("files[0]", b"\0" * size, filename="big.bin", content_type="application/octet-stream")
        return data

    assert fake_discord.world is not None
    path = f"/channels/{fake_discord.world.general.id}/messages"
    status, body = await api.call("POST", path, data=form(UPLOAD_LIMIT + 1))
    assert (status, body["code"]) == (413, 40005), body
    accepted(await api.call("POST", path, data=form(UPLOAD_LIMIT)))
