"""Rhyme-class coverage of any tokenizer: python -m tools.phase_coverage --tokenizer PATH|gpt2"""
import argparse
import json
import sys

from resonator.cli import run_main
from resonator.phases import class_stats, rhyme_classes
from resonator.tokenizer import gpt2_tokenizer, load_tokenizer


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokenizer", required=True, help="a tokenizer.json, or 'gpt2'")
    args = ap.parse_args(argv)
    tok = gpt2_tokenizer() if args.tokenizer == "gpt2" else load_tokenizer(args.tokenizer)
    stats = class_stats(rhyme_classes(tok)[0])
    print(json.dumps({k: stats[k] for k in ("vocab_size", "tokens_with_class", "classes",
                                            "class_size_histogram")}, indent=1))


if __name__ == "__main__":
    sys.exit(run_main(main))
