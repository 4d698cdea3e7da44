"""The run layout and dvc.yaml name the same paths (moving a file is a change in both)."""
import yaml

from resonator.layout import Layout


def declared_paths(repo_root, profile="small", variant="standard", seed=3) -> set[str]:
    text = (repo_root / "dvc.yaml").read_text()
    text = text.replace("${profile}", profile).replace("${item.variant}", variant).replace("${item.seed}", str(seed))
    stages = yaml.safe_load(text)["stages"]
    out = set()
    for st in stages.values():
        for key in ("outs", "metrics", "plots"):
            for entry in st.get(key, []):
                out.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    return out


def test_layout_names_every_declared_output(repo_root):
    lay, run = Layout("small"), Layout("small").run("standard", 3)
    mine = {lay.corpus, lay.tokenizer_dir, lay.tokens, lay.phases, lay.evalsets, run.ckpt, run.train_json, run.curve,
            run.eval_dir, run.eval_json, lay.results / "tex", lay.results / "figures", lay.results / "summary.md",
            lay.stats_json, lay.results / "verdicts.json", lay.analysis, lay.results / "analysis.tex", lay.design}
    mine |= {lay.stage_metrics(s) for s in ("prepare", "tokenize", "phases", "evalsets")}
    declared = declared_paths(repo_root)
    assert {str(p) for p in mine} <= declared, sorted({str(p) for p in mine} - declared)
    run_outputs = {d for d in declared if d.startswith("runs/") and not d.startswith("runs/ladder/")}
    assert run_outputs == {str(p) for p in (run.ckpt, run.train_json, run.curve, run.eval_dir, run.eval_json)}


def test_ladder_layout_names_every_declared_ladder_output(repo_root):
    from resonator.layout import LADDER_DVCFILE, LadderLayout
    declared = set()
    for dvcfile in ("dvc.yaml", LADDER_DVCFILE):      # ladder_stats at the root, the ladder's runs in their own
        text = (repo_root / dvcfile).read_text()
        for var, value in (("${ladder.profile}", "small"), ("${item.rung}", "d128"), ("${item.lr}", "0.002"),
                           ("${item.variant}", "standard"), ("${item.seed}", "3")):
            text = text.replace(var, value)
        for st in yaml.safe_load(text)["stages"].values():
            for key in ("outs", "metrics", "plots"):
                declared |= {next(iter(e)) if isinstance(e, dict) else e for e in st.get(key, [])}
    lad = LadderLayout("small")
    tune, final = lad.tune_run("d128", "standard", 0.002, 3), lad.final_run("d128", "standard", 3)
    mine = {lad.tune_dir("d128", "standard"), lad.lr_file("d128", "standard"),
            lad.tuning_table("d128", "standard"), final.lengths_dir, final.train_json, final.curve,
            final.eval_root, final.eval_json, lad.results / "tex", lad.results / "figures", lad.stats_json,
            lad.results / "summary.md", lad.results / "verdicts.json"}
    ladder_outputs = {d for d in declared if "/ladder/" in d}
    assert ladder_outputs == {str(p) for p in mine}, sorted(ladder_outputs ^ {str(p) for p in mine})
    assert tune.train_json.parent.parent == lad.tune_rate("d128", "standard", 0.002)
    assert lad.tune_rate("d128", "standard", 0.002).parent == lad.tune_dir("d128", "standard")


def test_moved_folders_and_existing_runs(tmp_path):
    lay = Layout("tiny", runs_base=tmp_path / "r", results_base=tmp_path / "out")
    assert lay.run("standard", 0).dir == tmp_path / "r" / "tiny" / "standard" / "s0"
    assert lay.stats_json == tmp_path / "out" / "tiny" / "stats.json"
    for name in ("standard/s0", "standard/s12", "standard/notes", "resonator_random/s1"):
        (tmp_path / "r" / "tiny" / name).mkdir(parents=True)
    assert [r.name for r in lay.existing_runs()] == ["resonator_random/s1", "standard/s0", "standard/s12"]
