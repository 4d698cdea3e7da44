"""The generated prose's words live in paper/sentences.yaml (reporting.sentences): every
sentence there is used, every field a sentence names is given, and a missing one is an error
that names the file and the key."""
import re
import string

import pytest
import yaml

from reporting import sentences
from reporting.sentences import say
from resonator.errors import ProjectError


def leaves(node, key=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, f"{key}.{k}" if key else k)
    else:
        yield key, node


def test_every_sentence_is_used_by_the_reporting_code(repo_root):
    code = "\n".join(p.read_text() for p in (repo_root / "reporting").glob("*.py"))
    keys = dict(leaves(yaml.safe_load(sentences.PATH.read_text())))
    # keys chosen by name at run time: study.outcome.<kind>, ladder.term.<term>
    dynamic = re.findall(r'say\(f"([\w.]+)\{', code)
    unused = [k for k in keys if f'"{k}"' not in code and not any(k.startswith(d) for d in dynamic)]
    assert len(keys) > 50 and dynamic
    assert not unused, unused


def test_every_template_is_well_formed():
    for key, text in leaves(yaml.safe_load(sentences.PATH.read_text())):
        assert isinstance(text, str), key
        list(string.Formatter().parse(text))          # raises on a lone brace
        assert "\n" not in text, key                   # folded into one line


def test_a_missing_sentence_or_field_names_the_file_and_the_key():
    with pytest.raises(ProjectError, match=r"sentences\.yaml: has no sentence 'study\.nothing'"):
        say("study.nothing")
    with pytest.raises(ProjectError, match=r"sentences\.yaml: 'study\.added_by' names the field 'amendment'"):
        say("study.added_by", registered="2026-01-01")
    assert say("study.added_by", amendment=2, registered="2026-01-01") == "added by amendment 2, registered 2026-01-01"
