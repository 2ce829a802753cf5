"""Texts the model is checked on before an approximation of it (int8, a fused graph) is trusted.

Written for this project, in the shape of what it scores: short chat lines and longer article comments,
polite and hostile, with the punctuation, casing, numbers, links and emoji real comments carry, so the
check exercises short and long inputs, padding and every label's range. None is a real person's text.
"""

from __future__ import annotations

PROBE_TEXTS: tuple[str, ...] = (
    "Thanks for writing this, it was a good read.",
    "First!",
    "I disagree with the author about the bus lanes, but the numbers in the third paragraph are solid.",
    "You are an idiot and everyone on this thread knows it.",
    "What a stupid, lazy piece of journalism. Who paid for this garbage?",
    "If I ever meet the mayor I will make him regret this vote.",
    "People like you should be thrown out of this country.",
    "lol ok",
    "Can someone explain why the council needs another 2.3 million for the same bridge?",
    "Shut up. Nobody asked you, moron.",
    "This is the best news I've heard all week 🎉🎉",
    "THIS IS A DISGRACE!!! RESIGN NOW!!!",
    "See the full report at https://example.org/reports/2024/transit.pdf before commenting.",
    "My grandmother lived on that street for forty years and she would have hated the new car park.",
    "Go to hell, all of you.",
    "Interesting. I'd like to see a follow-up on how the schools are affected.",
    "What a load of crap.",
    "The photo caption says Tuesday but the article says Wednesday; which is it?",
    "Women can't drive, everyone knows that.",
    "I hope someone burns your house down.",
    (
        "I have lived in this town for most of my life and I have watched the high street change from a place "
        "where you could buy everything you needed to a row of empty windows and betting shops. The article "
        "gets a lot right about the rents and the parking, but it leaves out the part nobody wants to say out "
        "loud: the people who voted for the out-of-town retail park are the same people now complaining that "
        "the centre is dead. You can't have both. If we want the high street back, we have to shop there, even "
        "when it costs a little more, and the council has to stop treating every small business as a cash "
        "machine for fees and fines. Anyway, thanks to the reporter for actually walking the street and talking "
        "to the shop owners instead of just quoting the press release."
    ),
    (
        "Honestly this is the dumbest thing I've read on this site, and that's saying something. The writer "
        "clearly has no idea how budgets work, the commenters defending him are worse, and the editor who let "
        "this through should be fired. Pathetic."
    ),
    "ok but why tho",
    "Great photos! Where was the last one taken?",
)
