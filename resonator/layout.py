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

# beside each record: how fast, when and where it was made (resonator.provenance; .dvcignore hides it)
STAMPS_NAME = "stamps.json"

SEED_DIR = re.compile(r"s(\d+)")

# The ladder's run stages (tune, select_lr, train_rung, eval_rung) live in a dvc.yaml of their own,
# with their own lock (why: the root dvc.yaml); DVC addresses them as "<file>:<stage>".
LADDER_DVCFILE = "ladder/dvc.yaml"


def ladder_stage(name: str) -> str:
    """The DVC address of a ladder run stage (e.g. "train_rung@d64-standard-0")."""
    return f"{LADDER_DVCFILE}:{name}"


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
    def stamps(self) -> Path:
        """How fast, when and where the run was made (resonator.provenance; DVC ignores it)."""
        return self.dir / STAMPS_NAME

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


# ---------------------------------------------------------------------------
# The ladder (issue 18): runs/ladder/<P>/ and results/<P>/ladder/, outside runs/<P> so that
# the main study's stages (which depend on runs/<P>) never wait on or rerun for a ladder run
# ---------------------------------------------------------------------------

def length_tag(epochs: float) -> str:
    """A training length as a folder name: 0.5 epochs -> e0.5."""
    return f"e{float(epochs):g}"


def lr_tag(lr: float) -> str:
    """A learning rate as DVC prints a matrix value (str of the float): 0.002 -> lr0.002."""
    return f"lr{float(lr)!s}"


@dataclass(frozen=True)
class LengthRun(RunLayout):
    """One training length of a final ladder run: the files of a run (ckpt/, curve.tsv, its
    own train.json under `dir`, the directory train() writes), but its evaluation in a folder
    of its own, `eval_at` (eval_rung's output)."""
    eval_at: Path = Path()
    length: float = 0.0

    @property
    def eval_dir(self) -> Path:
        return self.eval_at

    @property
    def eval_json(self) -> Path:
        return self.eval_at / "eval.json"

    @property
    def name(self) -> str:
        return f"{self.variant}/s{self.seed}/{length_tag(self.length)}"


@dataclass(frozen=True)
class FinalRun:
    """The files of one (rung, variant, seed) final run, every length of it: the stage outputs
    are whole folders because the lengths differ from rung to rung (dvc.yaml is static)."""
    dir: Path
    rung: str
    variant: str
    seed: int

    @property
    def lengths_dir(self) -> Path:
        """train_rung's cached output: <length>/{ckpt/, curve.tsv, train.json} per length."""
        return self.dir / "lengths"

    @property
    def eval_root(self) -> Path:
        """eval_rung's cached output: <length>/{results.json, samples_*.jsonl, items.json, eval.json}."""
        return self.dir / "eval"

    @property
    def train_json(self) -> Path:
        """Every length's training record (git-tracked metrics)."""
        return self.dir / "train.json"

    @property
    def stamps(self) -> Path:
        """Every length's stamps (resonator.provenance; DVC ignores it)."""
        return self.dir / STAMPS_NAME

    @property
    def curve(self) -> Path:
        """The longest length's learning curve, which runs through every shorter one."""
        return self.dir / "curve.tsv"

    @property
    def eval_json(self) -> Path:
        """Every length's scores (git-tracked metrics)."""
        return self.dir / "eval.json"

    def length(self, epochs: float) -> LengthRun:
        tag = length_tag(epochs)
        return LengthRun(self.lengths_dir / tag, self.variant, self.seed, eval_at=self.eval_root / tag,
                         length=float(epochs))


@dataclass(frozen=True)
class LadderLayout:
    """The ladder's paths for its profile."""
    profile: str
    root: Path = Path(".")
    runs_base: Path | None = None
    results_base: Path | None = None

    @property
    def runs(self) -> Path:
        return Path(self.runs_base or self.root / "runs") / "ladder" / self.profile

    def tune_dir(self, rung: str, variant: str) -> Path:
        """The output of the (rung, variant) tune stage: one folder per rate of the rung's grid."""
        return self.runs / "tune" / rung / variant

    def tune_rate(self, rung: str, variant: str, lr: float) -> Path:
        """The tuning runs at one rate, one folder per tuning seed."""
        return self.tune_dir(rung, variant) / lr_tag(lr)

    def tune_run(self, rung: str, variant: str, lr: float, seed: int) -> RunLayout:
        """A tuning run: train.json and curve.tsv stay, its checkpoints are removed when it ends."""
        return RunLayout(self.tune_rate(rung, variant, lr) / f"s{seed}", variant, int(seed))

    def final_run(self, rung: str, variant: str, seed: int) -> FinalRun:
        return FinalRun(self.runs / "final" / rung / variant / f"s{seed}", rung, variant, int(seed))

    @property
    def results(self) -> Path:
        return Path(self.results_base or self.root / "results") / self.profile / "ladder"

    def lr_file(self, rung: str, variant: str) -> Path:
        """select_lr's choice for (rung, variant), the learning rate alone: what the final runs
        read (so a grid extended elsewhere that keeps this choice reruns nothing)."""
        return self.results / "lr" / rung / f"{variant}.json"

    def tuning_table(self, rung: str, variant: str) -> Path:
        """select_lr's tuning table for (rung, variant): every grid value's losses over the tuning
        seeds. Under runs/ladder, beside the tuning runs, so that ladder_stats needs one input
        folder that exists whatever the ladder's profile (runs/ladder holds a .gitkeep)."""
        return self.runs / "tuning" / rung / f"{variant}.json"

    @property
    def throughput(self) -> Path:
        """tools/ladder_bench.py's measured tokens/s per rung and variant."""
        return self.results / "throughput.json"

    @property
    def stats_json(self) -> Path:
        return self.results / "ladder.json"
