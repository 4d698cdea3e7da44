"""The typed `hypotheses.amendments` list of params.yaml (issue 21): hypotheses added to a
registration after it was registered, labelled as such wherever they are reported.

    hypotheses:
      ...
      tests: [...]                     # the registration: never edited once its runs exist
      amendments:
        - number: 1
          registered: "2026-12-05"
          reason: "why the question came up, and that it was added after v2's results existed"
          tests:
            - {id: A1, a: resonator_lambda_small, b: resonator_phonetic, family: amendment1, margin_ppl: 1.0,
               margin_reason: "...", question: "..."}

An amendment adds tests; it never changes the registered ones. Its tests take the fields of
`hypotheses.tests` entries (resonator.config.Hypothesis) and form families of their own: a
family of the registration, or of another amendment, is refused, so Holm's correction of every
registered family (and of every earlier amendment) is exactly what it was. `prereg_hash`
covers the registration without its amendments, so the hash stamped into the runs already
trained stays the hash of the runs trained after an amendment.

Declared here rather than in resonator/config.py on purpose (as resonator/ladder_config.py):
config.py is a dependency of every train_* stage in dvc.yaml, and amending the hypotheses
must not mark the trained runs as changed. resonator.params.validate takes `amendments` out
of `hypotheses` before the rest is parsed, checks it with this module, then checks the
variants its tests name as it checks the registered tests'.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError, field_validator

from resonator.config import Hypothesis, PosInt, Section, describe, doc

KEY = "hypotheses.amendments"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value, what: str = "registered") -> dt.date:
    """A YYYY-MM-DD date given as text; ValueError with how to write it otherwise."""
    if isinstance(value, dt.date):
        raise ValueError(f"write the date quoted, {what}: \"{value.isoformat()}\" (YAML reads an unquoted date "
                         "as a date, not as text)")
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError(f"{value!r} is not a date YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date (YYYY-MM-DD)") from None


class Amendment(Section):
    number: PosInt = doc("the amendment's number: 1 for the first, then 2, 3, ... in the order they were made")
    registered: str = doc("date the amendment was written into params.yaml (YYYY-MM-DD, quoted), before any of "
                          "its tests' results were looked at; not before hypotheses.registered or an earlier "
                          "amendment's date")
    reason: Annotated[str, Field(min_length=1)] = doc(
        "why the registration is amended: the question added, how it came up, and what was already known "
        "(e.g. that the registered results existed)")
    tests: Annotated[list[Hypothesis], Field(min_length=1)] = doc(
        "the added hypotheses, with the fields of hypotheses.tests; their families must be new (neither a "
        "registered family nor another amendment's), so no registered Holm correction moves")

    @field_validator("registered", mode="before")
    @classmethod
    def _date(cls, value):
        parse_date(value)
        return value

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str):
        if not value.strip():
            raise ValueError("is empty: say why the registration is amended")
        return value


_LIST = TypeAdapter(list[Amendment])


def parse_amendments(raw) -> tuple[list[Amendment] | None, tuple[str, str] | None]:
    """The typed amendments (None or absent: none), or (None, (dotted key, message)) of the first problem."""
    if raw is None:
        return [], None
    if not isinstance(raw, list):
        return None, (KEY, f"expected a list of amendments, got {type(raw).__name__} ({raw!r})")
    try:
        return _LIST.validate_python(raw, strict=True), None
    except ValidationError as e:
        return None, describe(e.errors(include_url=False)[0], list[Amendment], ("hypotheses", "amendments"))


def check_amendments(amendments: list[Amendment], hypotheses) -> tuple[str, str] | None:
    """(dotted key, message) of the first amendment that does not fit the registration it
    amends (`hypotheses`: the typed registered section), else None: numbers 1, 2, ... in
    order; dates not before the registration or the previous amendment; ids new; families
    new, each of one amendment only. The variants its tests name are checked by
    resonator.params.check_references, as for registered tests."""
    registered = {t.id for t in hypotheses.tests}
    families = {t.family: "the registration" for t in hypotheses.tests}
    try:
        previous, since = parse_date(hypotheses.registered), "hypotheses.registered"
    except ValueError:
        previous, since = None, None
    ids: dict[str, int] = {}
    for i, a in enumerate(amendments):
        key = f"{KEY}[{i}]"
        if a.number != i + 1:
            return f"{key}.number", (f"is {a.number}, but amendments are numbered 1, 2, ... in the order they were "
                                     f"made, and this is the {_ordinal(i + 1)} (number it {i + 1})")
        date = parse_date(a.registered)
        if previous is not None and date < previous:
            return f"{key}.registered", (f"{a.registered} is before {since} ({previous.isoformat()}): an amendment "
                                         "is made after what it amends (give the date it was written)")
        previous, since = date, f"amendment {a.number}'s date"
        own: set[str] = set()
        for j, t in enumerate(a.tests):
            where = f"{key}.tests[{j}]"
            if t.id in registered:
                return f"{where}.id", (f"'{t.id}' is a registered hypothesis (hypotheses.tests): an amendment adds "
                                       "hypotheses and never redefines one (give the new test a new id)")
            if t.id in ids:
                return f"{where}.id", f"duplicate id '{t.id}' (already in amendment {ids[t.id]})"
            ids[t.id] = a.number
            owner = families.get(t.family)
            if owner is not None and owner != f"amendment {a.number}":
                return f"{where}.family", (
                    f"'{t.family}' is a family of {owner}: an amendment's tests form families of their own, so "
                    "the Holm correction of every registered family (and every earlier amendment's) stays as "
                    f"it was (name a new family, e.g. 'amendment{a.number}')")
            own.add(t.family)
        families.update({f: f"amendment {a.number}" for f in own})
    return None


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


# ---------------------------------------------------------------------------
# The registration and its amendments, as the stages read them (params.yaml's dicts)
# ---------------------------------------------------------------------------

def all_tests(h: dict) -> list[dict]:
    """Every hypothesis to analyse: the registered tests, then each amendment's, in order."""
    return list(h["tests"]) + [t for a in h.get("amendments") or [] for t in a["tests"]]


def registration_of(h: dict) -> dict[str, dict]:
    """Per hypothesis id, where it was registered: `registration` (a label: "v2" for the
    registered design version, "amendment 1 (2026-12-05)" for an amendment's test),
    `amendment` (its number, None for a registered test) and `registered` (the date)."""
    out = {t["id"]: {"registration": f"v{h['version']}", "amendment": None, "registered": h["registered"]}
           for t in h["tests"]}
    for a in h.get("amendments") or []:
        for t in a["tests"]:
            out[t["id"]] = {"registration": f"amendment {a['number']} ({a['registered']})", "amendment": a["number"],
                            "registered": a["registered"]}
    return out


def list_key_of(h: dict) -> dict[str, str]:
    """Per hypothesis id, the params.yaml key of the list that holds it (for error messages)."""
    out = {t["id"]: "hypotheses.tests" for t in h["tests"]}
    for i, a in enumerate(h.get("amendments") or []):
        out.update({t["id"]: f"{KEY}[{i}].tests" for t in a["tests"]})
    return out


def amendments_summary(h: dict) -> list[dict]:
    """Each amendment as stats.json and design.json record it: number, date, reason, the ids
    it adds and the families they form."""
    return [{"number": a["number"], "registered": a["registered"], "reason": a["reason"],
             "label": f"amendment {a['number']} ({a['registered']})", "tests": [t["id"] for t in a["tests"]],
             "families": list(dict.fromkeys(t["family"] for t in a["tests"]))}
            for a in h.get("amendments") or []]
