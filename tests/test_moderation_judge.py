"""The judging pipeline (bot/moderation/judge.py): levels for the loaded model → verdict → outcome → flag case."""

from __future__ import annotations

from bot.moderation import actions
from bot.moderation.judge import (
    COMMENT,
    MEMBER,
    Judge,
    auto_remove_case,
    auto_timeout_case,
    comment_subject,
    member_subject,
)
from bot.moderation.policy import Outcome
from bot.scoring import TextScore
from bot.store import Case, GuildSettings, Level

JUDGE = Judge.of({"insult": 0.6, "threat": 0.6, "sexual_explicit": 0.6}, ["insult", "threat", "toxicity"])


def score(**scores: float) -> TextScore:
    top = max(scores, key=lambda k: scores[k])
    return TextScore(scores, top, scores[top], "the sentence", (0, 12))


def subject():
    return member_subject(1, 10, 500, 42, "mia", "you are an idiot", "https://discord.com/channels/1/10/500")


def test_under_every_level_nothing_is_flagged():
    judgement = JUDGE.judge(subject(), score(insult=0.2, threat=0.1), GuildSettings(1), [None, 10])
    assert judgement.outcome is Outcome.IGNORE and judgement.flag is None and not judgement.flagged


def test_a_crossing_builds_the_flag_case_from_the_strongest_label():
    settings = GuildSettings(1, shadow_mode=False)
    judgement = JUDGE.judge(subject(), score(insult=0.9, threat=0.65), settings, [None, 10])
    assert judgement.outcome is Outcome.FLAG and not judgement.act
    flag = judgement.flag
    assert flag is not None and flag.action == actions.FLAG and flag.target_kind == MEMBER
    assert (flag.guild_id, flag.target_id, flag.target_name) == (1, "42", "mia (42)")
    assert (flag.label, flag.score) == ("insult", 0.9)  # furthest above its level
    assert flag.reason == "insult 0.90 ≥ 0.60, threat 0.65 ≥ 0.60"
    assert (flag.channel_id, flag.message_id, flag.evidence) == (10, 500, "the sentence")
    assert flag.shadow is False and flag.dedup_key is not None and flag.dedup_key.startswith("flag:1:500:")


def test_only_the_models_labels_and_the_innermost_channel_count():
    # sexual_explicit has a default level but the model does not produce it; the thread (11) overrides.
    settings = GuildSettings(
        1, shadow_mode=False, thresholds={10: {"insult": Level(0.3)}, 11: {"insult": Level(0.95)}}
    )
    assert JUDGE.judge(subject(), score(insult=0.5, sexual_explicit=0.99), settings, [10]).flagged
    assert not JUDGE.judge(subject(), score(insult=0.5, sexual_explicit=0.99), settings, [10, 11]).flagged


def test_act_level_acts_unless_shadow_mode_and_shadow_flags_say_so():
    levels = {0: {"insult": Level(0.5, 0.8)}}
    live = JUDGE.judge(
        subject(), score(insult=0.9), GuildSettings(1, shadow_mode=False, thresholds=levels), []
    )
    assert live.act and live.flag is not None and not live.flag.shadow
    shadow = JUDGE.judge(
        subject(), score(insult=0.9), GuildSettings(1, shadow_mode=True, thresholds=levels), []
    )
    assert shadow.outcome is Outcome.FLAG and shadow.flag is not None and shadow.flag.shadow


def test_a_comment_version_is_judged_by_ids_alone_and_its_key_changes_with_the_text():
    before = comment_subject(1, 77, "Reader", "a" * 64, thread_id=300)
    edited = comment_subject(
        1, 77, "Reader", "b" * 64, thread_id=300, message_ids=(900,), link="https://x/900"
    )
    first = JUDGE.judge(before, score(threat=0.7), GuildSettings(1), [200, 300]).flag
    second = JUDGE.judge(edited, score(threat=0.7), GuildSettings(1), [200, 300]).flag
    assert first is not None and second is not None
    assert first.target_kind == COMMENT and first.target_id == "77" and first.message_id is None
    assert second.message_id == 900 and first.dedup_key != second.dedup_key


def test_follow_ups_reference_their_flag():
    flag = Case(
        guild_id=1,
        action=actions.FLAG,
        target_kind=MEMBER,
        target_id="42",
        reason="insult 0.90 ≥ 0.60",
        scores={"insult": 0.9},
        label="insult",
        score=0.9,
        case_number=7,
    )
    removed = auto_remove_case(subject(), flag)
    timed_out = auto_timeout_case(subject(), flag, 600)
    assert removed.action == actions.REMOVE and removed.ref_case == 7 and removed.message_id == 500
    assert removed.reason == "automatic: insult 0.90 ≥ 0.60"
    assert (
        timed_out.action == actions.TIMEOUT and timed_out.duration_seconds == 600 and timed_out.ref_case == 7
    )
    assert removed.dedup_key != timed_out.dedup_key
