"""LaTeX for the generated tables, macros and prose."""
from __future__ import annotations

import re

NUM_WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]


def macro_name(*parts) -> str:
    out = []
    for part in parts:
        for tok in re.split(r"[^A-Za-z0-9]+", str(part)):
            word, prev_digit = [], False
            for c in tok:  # digits become words; a letter after a digit starts a new word (H1a -> HOneA)
                word.append(NUM_WORDS[int(c)] if c.isdigit() else (c.upper() if prev_digit else c))
                prev_digit = c.isdigit()
            tok = "".join(word)
            out.append(tok[:1].upper() + tok[1:])
    return "res" + "".join(out)


def tex_escape(s: str) -> str:
    """Plain prose -> LaTeX text: escape specials, typeset 2^n and +- as maths."""
    s = s.replace("\\", r"\textbackslash{}")
    for ch in "_%&#$":
        s = s.replace(ch, "\\" + ch)
    s = re.sub(r"(\w+)\^(\w+)", r"$\1^{\2}$", s)
    s = s.replace("+-", r"$\pm$").replace("~", r"\textasciitilde{}")
    return s
