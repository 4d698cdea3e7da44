"""Where every artifact of a study lives: one place for every path.

    lay = Layout("small")                 # relative to the repository root
    lay.tokens / "train.bin"              # data/small/tokens/train.bin
    run = lay.run("standard", 3)
    run.final                             # runs/small/standard/s3/ckpt/final.pt

dvc.yaml spells the same paths with `${profile}`; tests/test_layout.py checks that
the two agree, so moving a file is a change here and there, nowhere else.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SEED_DIR = re.compile(r"s(\d+)")


@dataclass(frozen=True)
class RunLayout:
    """The files of one (profile, variant, seed) run."""
    dir: Path
    variant: str
    seed: int

    @property
    def ckpt(self) -> Path:
        return self.dir / "ckpt"

    @property
    def last(self) -> Path:
        """Resumable training state, rewritten every ckpt_interval steps."""
        return self.ckpt / "last.pt"

    @property
    def final(self) -> Path:
        """The final weights: what evaluation scores (never a best-validation pick)."""
        return self.ckpt / "final.pt"

    @property
    def train_json(self) -> Path:
        return self.dir / "train.json"

    @property
    def curve(self) -> Path:
        return self.dir / "curve.tsv"

    @property
    def eval_dir(self) -> Path:
        return self.dir / "eval"

    @property
    def eval_json(self) -> Path:
        return self.dir / "eval.json"

    @property
    def items(self) -> Path:
        return self.eval_dir / "items.json"

    @property
    def name(self) -> str:
        return f"{self.variant}/s{self.seed}"


@dataclass(frozen=True)
class Layout:
    """The paths of one profile's data, runs, metrics and results. `runs_base` and
    `results_base` move the runs/ and results/ folders (tests, scratch analyses)."""
    profile: str
    root: Path = Path(".")
    runs_base: Path | None = None
    results_base: Path | None = None

    @property
    def data(self) -> Path:
        return self.root / "data" / self.profile

    @property
    def corpus(self) -> Path:
        return self.data / "corpus"

    @property
    def tokenizer_dir(self) -> Path:
        return self.data / "tokenizer"

    @property
    def tokenizer(self) -> Path:
        return self.tokenizer_dir / "tokenizer.json"

    @property
    def tokens(self) -> Path:
        return self.data / "tokens"

    @property
    def tokens_meta(self) -> Path:
        """The token files' record: per split its tokens, documents and bytes."""
        return self.tokens / "meta.json"

    @property
    def phases(self) -> Path:
        return self.data / "phases"

    @property
    def classes(self) -> Path:
        return self.phases / "classes.npy"

    @property
    def evalsets(self) -> Path:
        return self.data / "evalsets"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics" / self.profile

    def stage_metrics(self, stage: str) -> Path:
        return self.metrics / f"{stage}.json"

    @property
    def runs(self) -> Path:
        return Path(self.runs_base or self.root / "runs") / self.profile

    def run(self, variant: str, seed: int) -> RunLayout:
        return RunLayout(self.runs / variant / f"s{seed}", variant, int(seed))

    def existing_runs(self) -> list[RunLayout]:
        """Every run directory on disk, planned or not (stats lists the unplanned ones)."""
        if not self.runs.is_dir():
            return []
        out = []
        for vdir in sorted(p for p in self.runs.iterdir() if p.is_dir()):
            for sdir in sorted(p for p in vdir.iterdir() if p.is_dir()):
                m = SEED_DIR.fullmatch(sdir.name)
                if m:
                    out.append(RunLayout(sdir, vdir.name, int(m.group(1))))
        return out

    @property
    def results(self) -> Path:
        return Path(self.results_base or self.root / "results") / self.profile

    @property
    def stats_json(self) -> Path:
        return self.results / "stats.json"

    @property
    def design(self) -> Path:
        """The design stage's outputs (design.json, its table and macros): made before any run."""
        return self.results / "design"

    @property
    def analysis(self) -> Path:
        return self.results / "analysis"
