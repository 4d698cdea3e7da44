"""Sharing the cores: thread counts from affinity/cgroup and the runs going at once; progress lines."""
import io
import subprocess
import sys
import time

from resonator.progress import Progress, fmt_duration
from resonator.threads import cgroup_quota, run_slot, running_runs, threads_for_run


def test_cgroup_quota_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_quota(tmp_path) == 2.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert cgroup_quota(tmp_path) is None


def test_threads_share_the_cores():
    assert threads_for_run(None, others=0, cores=2) == 2
    assert threads_for_run(None, others=1, cores=2) == 1
    assert threads_for_run(2, others=0, cores=16) == 2       # params' num_threads caps it
    assert threads_for_run(8, others=3, cores=16) == 4
    assert threads_for_run(None, others=5, cores=2) == 1     # never zero


HOLD = "import sys, time; from pathlib import Path; from resonator.threads import run_slot\n" \
       "with run_slot(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)\n"


def test_slots_count_live_runs_and_forget_dead_ones(tmp_path, repo_root):
    slots = tmp_path / "slots"
    assert running_runs(slots) == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(slots)], cwd=repo_root, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert running_runs(slots) == 1
        with run_slot(slots) as others:
            assert others == 1
            assert running_runs(slots) == 2
        assert running_runs(slots) == 1
    finally:
        holder.kill()                 # SIGKILL: the slot file stays behind, its lock does not
        holder.wait()
    assert len(list(slots.glob("slot-*"))) == 1
    assert running_runs(slots) == 0 and not list(slots.glob("slot-*"))


class NotATerminal(io.StringIO):
    def isatty(self):
        return False


def test_progress_prints_plain_lines_when_not_a_terminal():
    log, bar = NotATerminal(), NotATerminal()
    p = Progress(total=10, start=0, tokens_per_step=100, label="[3/62] standard s2", bar_stream=bar, log_stream=log)
    for step in range(1, 6):
        time.sleep(0.001)
        p.update(step, 5.0)
    p.line("train 5.0000 val 5.1000,")
    p.close()
    out = log.getvalue().splitlines()
    assert len(out) == 1 and bar.getvalue() == ""
    assert out[0].startswith("[3/62] standard s2 step 5/10 train 5.0000 val 5.1000, ")
    assert out[0].endswith(" left") and "tok/s" in out[0]


def test_duration_format():
    assert fmt_duration(59) == "0:59" and fmt_duration(3725) == "1:02:05" and fmt_duration(float("nan")) == "?"
