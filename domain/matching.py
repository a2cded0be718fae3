"""How a member's own typing is compared with the plan's records.

The rules come from the plan's member-services training material: names ignore
case, surrounding white space, accents, apostrophes, hyphens and spaces; member
IDs ignore case, spaces and dashes; ZIP codes compare their first five digits.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from domain.members import Member

# Letters that carry no combining mark to strip in NFKD, written as people type them.
_LETTER_FOLDS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)


def normalize_name(text: str) -> str:
    """`  O'Brien-Núñez ` and `obrien nunez` normalize alike; only letters and digits remain."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LETTER_FOLDS))
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def normalize_member_id(text: str) -> str:
    """Upper case with every space and dash (of any Unicode kind) removed."""
    return "".join(
        ch
        for ch in unicodedata.normalize("NFKC", text).upper()
        if not ch.isspace() and unicodedata.category(ch) != "Pd"
    )


def zip5(text: str | None) -> str | None:
    """The first five digits of a US ZIP or ZIP+4, or None when it has fewer."""
    if not text:
        return None
    digits = "".join(ch for ch in text.strip() if ch.isdigit())
    return digits[:5] if len(digits) >= 5 else None


@dataclass(frozen=True, slots=True)
class IdentityClaim:
    """What a person typed to find their plan record."""

    first_name: str
    last_name: str
    birth_date: date
    member_id: str
    zip_code: str


def member_matches(member: Member, claim: IdentityClaim) -> bool:
    """Whether every field of `claim` agrees with `member` under the normalization rules.

    The first name may be the first given name or all given names together
    (`Mary Ann` against given names `Mary`, `Ann`).
    """
    if member.birth_date != claim.birth_date:
        return False
    if normalize_member_id(member.member_number) != normalize_member_id(claim.member_id):
        return False
    wanted_zip = zip5(claim.zip_code)
    if wanted_zip is None or wanted_zip not in {zip5(z) for z in member.zip_codes}:
        return False
    first = normalize_name(claim.first_name)
    last = normalize_name(claim.last_name)
    if not first or not last:
        return False
    for name in member.names:
        if name.family is None or normalize_name(name.family) != last:
            continue
        given = [normalize_name(g) for g in name.given]
        if given and (first == given[0] or first == "".join(given)):
            return True
    return False
