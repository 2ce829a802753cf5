"""Text safety: mentions, links, invisible characters, HTML conversion, names and splitting."""

import pytest

from bot.textsafety import (
    ZWSP,
    code_block,
    escape_code_fences,
    html_to_markdown,
    html_to_text,
    neutralise,
    quote_block,
    safe_display_name,
    split_message,
    strip_invisible,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("hey @everyone look", f"hey @{ZWSP}everyone look"),
        ("@here now", f"@{ZWSP}here now"),
        ("@EVERYONE shouting", f"@{ZWSP}EVERYONE shouting"),
        ("ping <@123456789012345678>", f"ping <{ZWSP}@123456789012345678>"),
        ("nick <@!42>", f"nick <{ZWSP}@!42>"),
        ("role <@&99>", f"role <{ZWSP}@&99>"),
        ("chan <#77>", f"chan <{ZWSP}#77>"),
        ("cmd </ban:123> and </mod warn:456>", f"cmd <{ZWSP}/ban:123> and <{ZWSP}/mod warn:456>"),
        ("even mid-word a@everyone.org", f"even mid-word a@{ZWSP}everyone.org"),
    ],
)
def test_mentions_are_neutralised(raw: str, expected: str) -> None:
    assert neutralise(raw) == expected


def test_plain_text_is_untouched() -> None:
    text = "Nice article! 5 < 6 and <b>bold</b> @someone 👨‍👩‍👧"
    assert neutralise(text) == text  # the family emoji keeps its zero-width joiners


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("see [my bank](https://evil.example/login)", "see my bank (https://evil.example/login)"),
        ("[https://good.example](https://evil.example)", "https://good.example (https://evil.example)"),
        ('[x](<https://e.example/a> "title")', "x (https://e.example/a)"),
        ("[](https://e.example/)", "https://e.example/"),
    ],
)
def test_masked_links_show_their_target(raw: str, expected: str) -> None:
    assert neutralise(raw) == expected


def test_bidi_controls_removed_from_text() -> None:
    assert neutralise("abc\u202edcba\u202c \u2066x\u2069") == "abcdcba x"


def test_html_drops_active_content_and_handlers() -> None:
    html = (
        '<p>Hello <script>alert("x")</script><b>world</b></p>'
        '<iframe src="https://evil.example"></iframe><object data="x.swf"></object><embed src="y">'
        "<style>p{display:none}</style>"
        '<img src="x" onerror="steal()" alt="a cat">'
        '<a href="javascript:alert(1)" onclick="bad()">click</a>'
    )
    text = html_to_markdown(html)
    assert "alert" not in text and "evil" not in text and "display" not in text
    assert "steal" not in text and "bad()" not in text and "javascript" not in text
    assert "**world**" in text
    assert "[image: a cat]" in text
    assert "click" in text


def test_html_keeps_verse_line_breaks_and_paragraphs() -> None:
    html = "<p>Roses are red,<br />\nViolets are blue,<br>\nI read this post<br/>\nand so did you.</p>\n<p>Second verse</p>"
    assert html_to_markdown(html) == (
        "Roses are red,\nViolets are blue,\nI read this post\nand so did you.\n\nSecond verse"
    )


def test_html_links_lists_and_entities() -> None:
    html = (
        '<p>Read <a href="https://e.example/a">this</a> &amp; that &lt;3</p><ul><li>one</li><li>two</li></ul>'
    )
    text = html_to_markdown(html)
    assert "[this](https://e.example/a)" in text
    assert "& that <3" in text
    assert "- one\n- two" in text


def test_html_to_text_for_titles() -> None:
    assert (
        html_to_text("Fish &amp; Chips &#8211; <em>a review</em><script>x()</script>")
        == "Fish & Chips – a review"
    )
    assert html_to_text("") == ""


def test_html_empty() -> None:
    assert html_to_markdown("") == ""
    assert html_to_markdown("<p> </p>") == ""


def test_code_fences_cannot_break_out() -> None:
    hostile = "nice\n```\n**escaped the quote**\n```"
    quoted = quote_block(hostile)
    assert "```" not in quoted
    assert quoted.split("\n") == [
        "> nice",
        f"> `{ZWSP}`{ZWSP}`",
        "> **escaped the quote**",
        f"> `{ZWSP}`{ZWSP}`",
    ]
    block = code_block("a ```` b", "text")
    assert block.startswith("```text\n") and block.endswith("\n```")
    assert block.count("```") == 2
    assert escape_code_fences("one `tick` ok") == "one `tick` ok"


def test_quote_block_keeps_blank_lines() -> None:
    assert quote_block("a\n\nb") == "> a\n>\n> b"


def test_display_name_marks_and_cleans() -> None:
    assert safe_display_name("Alice") == "Alice (comment)"
    assert safe_display_name("Moderator") == "Moderator (comment)"
    assert safe_display_name("Discord Staff") == "Disc-ord Staff (comment)"
    assert safe_display_name("clyde") == "cly-de (comment)"
    assert safe_display_name("ＤＩＳＣＯＲＤ") == "DISC-ORD (comment)"  # full-width folded first
    assert safe_display_name("Mоdеrаtоr") == "Moderator (comment)"  # Cyrillic о, е, а folded
    assert safe_display_name("Мария") == "Мария (comment)"  # a Cyrillic name stays Cyrillic
    assert safe_display_name("Ad\u200bmin\u202e") == "Admin (comment)"
    assert safe_display_name("  lots   of\nspace ") == "lots of space (comment)"
    assert safe_display_name("@everyone") == "＠everyone (comment)"
    assert safe_display_name("") == "Anonymous (comment)"
    assert safe_display_name("\u200b\u200d") == "Anonymous (comment)"
    assert safe_display_name("here") == "Anonymous (comment)"


def test_display_name_length_limit() -> None:
    name = safe_display_name("x" * 200)
    assert len(name) == 80
    assert name.endswith("… (comment)")


def test_strip_invisible_keeps_newlines() -> None:
    assert strip_invisible("a\u200b\u00adb\nc\u2060") == "ab\nc"


def test_split_short_text_is_one_part() -> None:
    assert split_message("short", 2000) == ["short"]


def test_split_prefers_paragraphs_then_lines_then_words() -> None:
    paragraph = "word " * 30  # 150 chars
    text = "\n\n".join(paragraph.strip() for _ in range(5))
    parts = split_message(text, 400)
    assert len(parts) == 3
    for i, part in enumerate(parts, 1):
        assert len(part) <= 400
        assert part.endswith(f"\n({i}/3)")
    body = [p.rsplit("\n", 1)[0] for p in parts]
    assert body[0] == "\n\n".join([paragraph.strip()] * 2)  # cut at a paragraph boundary
    assert "\n\n".join(body) == text  # nothing lost

    words = " ".join(f"w{i}" for i in range(200))
    parts = split_message(words, 100)
    rebuilt = " ".join(p.rsplit("\n", 1)[0] for p in parts)
    assert rebuilt == words  # cut only between words
    assert all(len(p) <= 100 for p in parts)


def test_split_hard_cuts_an_unbroken_run_but_numbers_it() -> None:
    url = "https://e.example/" + "a" * 500
    parts = split_message(url, 120)
    assert all(len(p) <= 120 for p in parts)
    assert "".join(p.rsplit("\n", 1)[0] for p in parts) == url
    assert parts[-1].endswith(f"({len(parts)}/{len(parts)})")


def test_split_many_parts_numbering_width() -> None:
    text = "\n".join("x" * 15 for _ in range(200))
    parts = split_message(text, 40)
    assert len(parts) >= 100
    assert all(len(p) <= 40 for p in parts)
    assert parts[0].endswith(f"(1/{len(parts)})")


def test_split_rejects_tiny_limits() -> None:
    with pytest.raises(ValueError, match="too small"):
        split_message("x" * 50, 12)
