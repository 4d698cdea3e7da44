"""Amendments of the registration (issue 21): hypotheses.amendments is refused where it would
move the registration (a registered family, a registered id, no valid date), leaves prereg_hash
and every registered hypothesis's numbers and verdict byte for byte as they were, and is
labelled in stats.json, summary.md, the review and the paper's generated tables and prose."""
import datetime
import json
import shutil
import subprocess
import sys

import pytest
import yaml

from evals.stats import holm_adjust
from resonator.errors import ProjectError
from resonator.params import ParamsError, load_params
from tests.conftest import pinned_params
from tests.fabricate import fabricate, fabricate_tokens_meta

DATE = "2026-12-05"
V1_HASH = "15568d0b29703539a8238507410cf237fe2fe18e6c60f60450dca9cbe85caecc"   # a v1 run's stamp


def amendment(number=1, date=DATE, family="amendment1", ids=("A1", "A2")):
    pairs = [("resonator_uniform", "standard"), ("resonator_shuffled", "standard")]
    return {"number": number, "registered": date,
            "reason": "Asked after the v2 results existed: do the spread and shuffled phases beat the baseline?",
            "tests": [{"id": i, "a": a, "b": b, "family": family, "margin_ppl": 1.0,
                       "margin_reason": "no claim; below the smallest effect the original presented as a gain (1.1%)",
                       "question": f"Does {a} beat {b}?"} for i, (a, b) in zip(ids, pairs, strict=True)]}


@pytest.fixture
def raw(repo_root):
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def load(raw, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_params(path), path


def refused(raw, tmp_path, key, *needles):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ParamsError) as e:
        load_params(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: key '{key}': "), msg
    for n in needles:
        assert n in msg, msg
    return msg


def _set(path, value):
    def change(amendments):
        node = amendments
        *parents, last = path
        for k in parents:
            node = node[k]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return change


REFUSALS = {
    # an amendment's tests form families of their own
    "registered-family": (_set((0, "tests", 1, "family"), "claims"), "hypotheses.amendments[0].tests[1].family",
                          "'claims' is a family of the registration", "name a new family"),
    "another-amendment's-family": (
        lambda a: a.append(amendment(2, "2026-12-07", family="amendment1", ids=("B1", "B2"))),
        "hypotheses.amendments[1].tests[0].family", "'amendment1' is a family of amendment 1"),
    # ids
    "registered-id": (_set((0, "tests", 0, "id"), "H2"), "hypotheses.amendments[0].tests[0].id",
                      "'H2' is a registered hypothesis"),
    "id-of-another-amendment": (lambda a: a.append(amendment(2, "2026-12-07", family="amendment2", ids=("A2", "B2"))),
                                "hypotheses.amendments[1].tests[0].id", "duplicate id 'A2' (already in amendment 1)"),
    # dates
    "missing-date": (_set((0, "registered"), KeyError), "hypotheses.amendments[0].registered", "is missing"),
    "impossible-date": (_set((0, "registered"), "2026-02-30"), "hypotheses.amendments[0].registered",
                        "'2026-02-30' is not a valid date"),
    "not-a-date": (_set((0, "registered"), "next week"), "hypotheses.amendments[0].registered",
                   "'next week' is not a date YYYY-MM-DD"),
    "unquoted-date": (_set((0, "registered"), datetime.date(2026, 12, 5)), "hypotheses.amendments[0].registered",
                      'write the date quoted, registered: "2026-12-05"'),
    "before-the-registration": (_set((0, "registered"), "2026-11-01"), "hypotheses.amendments[0].registered",
                                "is before hypotheses.registered (2026-11-28)"),
    "before-the-previous-amendment": (
        lambda a: a.append(amendment(2, "2026-12-01", family="amendment2", ids=("B1", "B2"))),
        "hypotheses.amendments[1].registered", "is before amendment 1's date"),
    # the rest of the schema
    "number-out-of-order": (_set((0, "number"), 2), "hypotheses.amendments[0].number", "number it 1"),
    "empty-reason": (_set((0, "reason"), "  "), "hypotheses.amendments[0].reason", "is empty"),
    "no-tests": (_set((0, "tests"), []), "hypotheses.amendments[0].tests", "at least 1 item"),
    "misspelt-key": (_set((0, "tests", 0, "margn_ppl"), 1.0), "hypotheses.amendments[0].tests[0]",
                     "unknown key 'margn_ppl' (did you mean 'margin_ppl'?)"),
    "margin-not-below-claim": (_set((0, "tests", 0, "claimed_ppl"), 0.5), "hypotheses.amendments[0].tests[0]",
                               "not smaller than the claimed effect"),
    "unknown-variant": (_set((0, "tests", 0, "b"), "standrad"), "hypotheses.amendments[0].tests[0].b",
                        "unknown variant 'standrad' (did you mean 'standard'?)"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_amendment_refusals(raw, tmp_path, case):
    change, key, *needles = REFUSALS[case]
    amendments = [amendment()]
    change(amendments)
    raw["hypotheses"]["amendments"] = amendments
    refused(raw, tmp_path, key, *needles)


def test_misspelt_amendments_key_and_wrong_type(raw, tmp_path):
    raw["hypotheses"]["amendment"] = [amendment()]
    refused(raw, tmp_path, "hypotheses", "unknown key 'amendment' (did you mean 'amendments'?)")
    raw["hypotheses"]["amendments"] = raw["hypotheses"].pop("amendment")[0]
    refused(raw, tmp_path, "hypotheses.amendments", "expected a list of amendments")


def test_prereg_hash_ignores_amendments(raw, tmp_path, repo_root):
    """The stamp of the runs already trained stays the stamp of the runs trained after an
    amendment; the whole-configuration hash and the amendments' own hash record it."""
    committed = load_params(repo_root / "params.yaml")
    assert committed.amendments == [] and committed.amendments_hash is None   # no amendment is committed
    before, _ = load(raw, tmp_path)
    raw["hypotheses"]["amendments"] = []
    empty, _ = load(raw, tmp_path)
    raw["hypotheses"]["amendments"] = [amendment()]
    once, _ = load(raw, tmp_path)
    raw["hypotheses"]["amendments"].append(amendment(2, "2026-12-07", family="amendment2", ids=("B1", "B2")))
    twice, _ = load(raw, tmp_path)
    assert committed.prereg_hash == before.prereg_hash == empty.prereg_hash == once.prereg_hash == twice.prereg_hash
    assert len({before.hash, once.hash, twice.hash}) == 3
    assert empty.amendments_hash is None and None is not once.amendments_hash != twice.amendments_hash
    # the registration itself is still covered: a change to it is a new pre-registration
    raw["hypotheses"]["tests"][0]["margin_ppl"] = 0.9
    changed, _ = load(raw, tmp_path)
    assert changed.prereg_hash != before.prereg_hash


def test_undecidable_amendment_is_refused_under_its_key(raw, tmp_path):
    """An amendment's family is checked like a registered one: 26 tests with 10 seeds cannot
    reach Holm's first level (2/2^10 is not below 0.05/26)."""
    from evals.design import require_decidable
    big = amendment()
    big["tests"] = [dict(big["tests"][0], id=f"A{i}") for i in range(1, 27)]
    raw["hypotheses"]["amendments"] = [big]
    p, _ = load(raw, tmp_path)
    with pytest.raises(ProjectError, match=r"key 'hypotheses\.amendments\[0\]\.tests' \(A1, family amendment1\).*"
                                           r"10 paired seeds cannot decide it"):
        require_decidable(p)
    big["tests"] = big["tests"][:25]                     # 2/2^10 < 0.05/25: decidable
    p, _ = load(raw, tmp_path)
    rows = require_decidable(p)
    assert len(rows) == 13 + 25 and {r["m"] for r in rows if r["family"] == "amendment1"} == {25}


# ---------------------------------------------------------------------------
# The stages on fabricated runs: without the amendment, and with it
# ---------------------------------------------------------------------------

def stage(module, params, *args, check=True):
    from tests.conftest import ROOT
    r = subprocess.run([sys.executable, "-m", module, "--params", str(params), *map(str, args)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def design_and_stats(params, runs, out, meta):
    from tests.conftest import ROOT
    stage("pipeline.design", params, "--out", out, "--meta", meta)
    return stage("pipeline.stats", params, "--runs-root", runs, "--out", out,
                 "--original", ROOT / "paper" / "original_results.yaml")


@pytest.fixture(scope="module")
def amended(tmp_path_factory):
    """The same fabricated runs analysed under the registration and under the registration
    with one amendment; in the amended copy of the runs, two carry v1's pre-registration hash
    and one an unknown hash (what the stats stage must name)."""
    tmp = tmp_path_factory.mktemp("amend")
    (tmp / "plain").mkdir()
    (tmp / "amended").mkdir()
    plain_params = pinned_params(tmp / "plain")
    raw = yaml.safe_load(plain_params.read_text())
    raw["hypotheses"]["amendments"] = [amendment()]
    amended_params = tmp / "amended" / "params.yaml"
    amended_params.write_text(yaml.safe_dump(raw, sort_keys=False))
    p, q = load_params(plain_params), load_params(amended_params)
    fabricate(tmp / "runs", p.profile, p.groups, p.seeds)
    shutil.copytree(tmp / "runs", tmp / "runs_amended")
    for v, s, h in (("standard", 0, V1_HASH), ("standard", 1, V1_HASH), ("resonator_random", 3, "f" * 64)):
        f = tmp / "runs_amended" / p.profile / v / f"s{s}" / "train.json"
        f.write_text(json.dumps(json.loads(f.read_text()) | {"prereg_hash": h}))
    meta = fabricate_tokens_meta(tmp / "meta.json")
    plain = design_and_stats(plain_params, tmp / "runs", tmp / "plain" / "results", meta)
    amend = design_and_stats(amended_params, tmp / "runs_amended", tmp / "amended" / "results", meta)
    def read(d, f):
        return d / "results" / p.profile / f
    return {"tmp": tmp, "p": p, "q": q, "plain": tmp / "plain", "amended": tmp / "amended", "path": read,
            "stdout": amend.stdout, "stderr": amend.stderr,
            "stats": {k: json.loads(read(tmp / k, "stats.json").read_text()) for k in ("plain", "amended")},
            "plain_stderr": plain.stderr}


def test_registered_hypotheses_are_byte_identical(amended):
    """Every registered hypothesis: the same record (p-values, Holm, intervals, MDEs, verdict),
    the same verdicts.json entry, the same macros and the same design row, with or without the
    amendment."""
    before, after = (amended["stats"][k]["hypotheses"] for k in ("plain", "amended"))
    registered = [t["id"] for t in amended["p"].hypotheses["tests"]]
    assert [h["id"] for h in before] == registered and [h["id"] for h in after] == registered + ["A1", "A2"]
    for x, y in zip(before, after[:len(registered)], strict=True):
        assert json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True), x["id"]
        assert y["registration"] == "v2" and y["amendment"] is None and y["registered"] == "2026-11-28"
    verdicts = {k: json.loads(amended["path"](amended[k], "verdicts.json").read_text()) for k in ("plain", "amended")}
    assert {i: verdicts["amended"][i] for i in registered} == verdicts["plain"]
    designs = {k: json.loads(amended["path"](amended[k], "design/design.json").read_text())["rows"]
               for k in ("plain", "amended")}
    assert designs["amended"][:len(registered)] == designs["plain"]
    from reporting.latex import macro_name
    prefixes = tuple("\\newcommand{\\" + macro_name(amended["p"].profile, i) for i in registered)
    numbers = {k: [ln for ln in amended["path"](amended[k], "tex/numbers.tex").read_text().splitlines()
                   if ln.startswith(prefixes)] for k in ("plain", "amended")}
    assert numbers["plain"] and numbers["amended"] == numbers["plain"]
    meta = amended["stats"]["amended"]["meta"]
    assert meta["prereg_hash"] == amended["stats"]["plain"]["meta"]["prereg_hash"] == amended["p"].prereg_hash
    assert meta["registered_families"] == amended["stats"]["plain"]["meta"]["families"]


def test_amendment_is_analysed_in_its_own_family(amended):
    stats = amended["stats"]["amended"]
    hyps = {h["id"]: h for h in stats["hypotheses"]}
    members = [hyps["A1"], hyps["A2"]]
    for h in members:
        assert h["family"] == "amendment1" and h["comparison"]["m"] == 2
        assert h["registration"] == f"amendment 1 ({DATE})" and h["amendment"] == 1 and h["registered"] == DATE
        assert h["mde"]["design"]["mde"] is not None and h["verdict"]
    raw = [h["comparison"]["p_signflip"] for h in members]
    assert [h["comparison"]["p_adjusted"] for h in members] == pytest.approx(holm_adjust(raw))
    assert stats["meta"]["families"]["amendment1"] == ["A1", "A2"]
    assert stats["meta"]["amendments"] == [{"number": 1, "registered": DATE, "reason": amendment()["reason"],
                                            "label": f"amendment 1 ({DATE})", "tests": ["A1", "A2"],
                                            "families": ["amendment1"]}]
    design = json.loads(amended["path"](amended["amended"], "design/design.json").read_text())
    rows = {r["id"]: r for r in design["rows"]}
    assert rows["A1"]["registration"] == f"amendment 1 ({DATE})" and rows["A1"]["m"] == 2
    assert design["meta"]["amendments_hash"] == amended["q"].amendments_hash
    assert f"[amendment 1 ({DATE})]" in next(ln for ln in amended["stdout"].splitlines() if ln.strip().startswith("A1"))


def test_amendment_is_labelled_in_summary_and_paper_sources(amended):
    summary = amended["path"](amended["amended"], "summary.md").read_text()
    assert "**Amendments.** The registration (design version 2, registered 2026-11-28) was amended once." in summary
    assert f"Amendment 1, registered {DATE}, adds A1, A2 (family amendment1)" in summary
    verdicts = summary.split("## Verdicts")[1].split("## Beside the verdicts")[0]
    assert "| id | family | registration |" in verdicts
    assert f"| A1 | amendment1 | amendment 1 ({DATE}) |" in verdicts and "| H0 | claims | v2 |" in verdicts
    claims = summary.split("## What each verdict says")[1].split("## Conclusion")[0]
    assert f"family amendment1; added by amendment 1, registered {DATE})" in claims
    assert f"In the amendment1 family (added by amendment 1, registered {DATE}; 2 hypotheses" in summary
    tex = amended["path"](amended["amended"], "tex").glob
    text = {f.name: f.read_text() for f in tex("*.tex")}
    assert "was amended once" in text["amendments.tex"]
    assert f"amendment 1 ({DATE})" in text["table_hypotheses.tex"] and "registration" in text["table_hypotheses.tex"]
    assert f"A1 & resonator\\_uniform vs standard & amendment1 & amendment 1 ({DATE})" in text["table_prereg.tex"]
    assert f"added by amendment 1, registered {DATE}" in text["claims.tex"]
    # without an amendment nothing is labelled, and the paper says the registration stands
    plain = amended["path"](amended["plain"], "tex")
    assert "has not been amended" in (plain / "amendments.tex").read_text()
    assert "registration" not in (plain / "table_hypotheses.tex").read_text()
    assert "Amendments" not in amended["path"](amended["plain"], "summary.md").read_text()


def test_review_labels_the_amendment(amended):
    from tests.conftest import ROOT
    r = subprocess.run([sys.executable, "-m", "tools.review", "--results", str(amended["amended"] / "results"),
                        "--profile", amended["p"].profile], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "design v2 + 1 amendment(s)" in lines[0]
    a1 = next(ln for ln in lines if ln.startswith("A1 "))
    assert a1.split()[1:3] == ["amendment1", "(2)"] and a1.endswith(f"[amendment 1 ({DATE})]")
    assert not any("[amendment" in ln for ln in lines if ln.startswith("H"))
    assert f"amendment 1 ({DATE}): adds A1, A2 in family amendment1 of its own" in r.stdout


def test_other_registration_is_named(amended):
    """Runs trained under another pre-registration: how many, under which hash, and which
    registration that is, in the stats stage's warning, stats.json, summary.md and the review."""
    warning = next(ln for ln in amended["stderr"].splitlines() if "another pre-registration" in ln)
    prereg = amended["p"].prereg_hash[:12]
    assert warning.startswith(f"stats: warning: 3 planned run(s) were trained under another pre-registration than "
                              f"this one ({prereg}): 2 under 15568d0b2970 (design version 1, superseded); "
                              "1 under ffffffffffff (not a registration params.yaml lists)"), warning
    assert "another pre-registration" not in amended["plain_stderr"]
    meta = amended["stats"]["amended"]["meta"]
    assert meta["other_registration_runs"] == ["standard/s0", "standard/s1", "resonator_random/s3"]
    assert meta["other_registration"][0] == {"prereg_hash": "15568d0b2970", "runs": ["standard/s0", "standard/s1"],
                                             "registration": "design version 1, superseded"}
    assert "2 under 15568d0b2970 (design version 1, superseded): standard/s0, standard/s1" in \
        amended["path"](amended["amended"], "summary.md").read_text()
    from tests.conftest import ROOT
    r = subprocess.run([sys.executable, "-m", "tools.review", "--results", str(amended["amended"] / "results"),
                        "--profile", amended["p"].profile], cwd=ROOT, capture_output=True, text=True)
    assert "warning: 3 planned run(s)" in r.stdout and "design version 1, superseded" in r.stdout


def test_a_design_made_before_the_amendment_is_refused(amended):
    """The prereg_hash alone cannot tell a stale design.json: the amendments' hash does."""
    r = stage("pipeline.stats", amended["amended"] / "params.yaml", "--runs-root", amended["tmp"] / "runs",
              "--out", amended["tmp"] / "stale", "--design",
              amended["path"](amended["plain"], "design/design.json"), check=False)
    assert r.returncode == 2 and "other amendments (hypotheses.amendments)" in r.stderr, r.stderr
    assert "pipeline.design" in r.stderr and not (amended["tmp"] / "stale").exists()


def test_amendment_tests_are_not_in_the_ladder(raw, tmp_path):
    """The ladder decides registered hypotheses only (ladder.hypotheses); an amendment leaves
    its cells' families as they were."""
    from evals.ladder import CellView
    from resonator.amendment_config import all_tests
    from resonator.ladder import Ladder
    raw["hypotheses"]["amendments"] = [amendment()]
    p, _ = load(raw, tmp_path)
    view = CellView(p, Ladder(p))
    assert [t["id"] for t in all_tests(view.hypotheses)] == [t["id"] for t in Ladder(p).tests()]
    assert view.hypotheses["amendments"] == [] and p.amendments
