"""SIGKILL `dass collect` and `dass search` at random moments, on a process pool and on Ray (local), and check.

Each scenario is a chain of runs of one command, each SIGKILLed at a random moment and then resumed as a user
would (`dass collect` run again; `dass search --resume DIR`, or the first command again when the run had not
yet written its ``config.json``), until the kills are spent; the last run then finishes uninterrupted. Half
the kills land 0-2 s after the first worker appears (a pool worker, or a Ray worker), where the workers are
still importing torch; the others at a random moment of the run. At the end it checks, for every chain:

- no finished record lost and no finished row changed (the store is read after every kill);
- no duplicate record; no finished job trained again (every training start is traced, ``DASS_TRACE_JOBS``);
- no process left behind: every process of a killed run (found by a marker in its environment, which pool
  workers, the resource tracker and Ray's processes inherit) has exited within the deadline;
- the result equals the uninterrupted run's: the collect store's finished records (all but timings), and
  the search's ``front.json``, ``history.json``, ledger and finished records.

Run (about 25 minutes on 2 busy cores; ``--quick`` for a smoke run):

    .venv/bin/python -m benchmarks.fault_injection [--seed 0] [--kills-scale 1.0]
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.collector_reliability import key
from benchmarks.common import provenance, result_path, write_json
from datasets_meta.store import SQLiteStore

MARKER = "DASS_FAULT_RUN"  # every process of one run inherits MARKER=<its token>; that is how they are found
# 2 tasks x 1 teacher x 8 students x (1 recipe + a no-KD control) = 32 one-epoch jobs on 8x8 digits
SUITE = """
name = "fault"
budget = 1
teacher_epochs = 1
students_per_pair = 8
recipes_per_student = 1
replicate_fraction = 0.0

[[groups]]
source = "digits"
classes = ["0-4", "5-9"]
teachers = ["cnn-s"]
teachers_per_task = 1
"""
# A tiny search: 4 generations of 8, a bracket (4 students x 1 epoch, the best 2 x 2 epochs) every 2; the
# shipped predictor guides it, as a user's search would be
SEARCH = ["--task", "digits:classes=0-4", "--teacher", "cnn-s", "--teacher-epochs", "1", "--generations", "4"]
SEARCH += ["--population", "8", "--rungs", "1,2", "--rung-every", "2", "--rung-size", "4", "--eta", "2"]
SEARCH += ["--verify", "2", "--max-params", "20000", "--seed", "3", "--device", "cpu"]
# what an interrupted run may legitimately record differently: when and where it ran
# (and the commit of the code, which moves when a commit lands while the benchmark runs)
TIMING_FIELDS = {"attempts", "worker", "heartbeat_at", "created_at", "started_at", "finished_at", "train_time_s"}
TIMING_FIELDS |= {"code_commit"}
SLOW_EXIT_S = 10.0  # the processes still alive this long after a kill are recorded by name
EXIT_DEADLINE_S = {"pool": 30.0, "ray": 120.0}  # how long a killed run's processes may take to exit


@dataclass(frozen=True)
class Scenario:
    """One command on one executor, killed ``kills`` times (half while its workers start)."""

    name: str
    command: str  # collect, search
    executor: str  # pool, ray
    kills: int
    random_s: tuple[float, float]  # the range of a random kill's delay after the run starts

    def args(self, work: Path, chain: int) -> list[str]:
        """The first command of ``chain``."""
        if self.command == "collect":
            where = ["--workers", "2"] if self.executor == "pool" else ["--ray-address", "local"]
            return ["collect", "--suite", str(work / "suite.toml"), "--db", str(self.target(work, chain))] + where
        where = ["--workers", "2"] if self.executor == "pool" else ["--executor", "ray", "--ray-address", "local"]
        return ["search", *SEARCH, *where, "--out", str(self.target(work, chain))]

    def resume_args(self, work: Path, chain: int) -> list[str]:
        """What a user runs after a kill: the same collect; a search's --resume once it has a config.json."""
        target = self.target(work, chain)
        if self.command == "search" and (target / "config.json").exists():
            return ["search", "--resume", str(target)]
        return self.args(work, chain)

    def target(self, work: Path, chain: int) -> Path:
        folder = work / f"{self.name}-{chain}"
        folder.mkdir(exist_ok=True)
        return folder / ("m.db" if self.command == "collect" else "run")

    def store(self, work: Path, chain: int) -> Path:
        target = self.target(work, chain)
        return target if self.command == "collect" else target / "records.db"


SCENARIOS = [
    Scenario("collect-pool", "collect", "pool", 18, (2.0, 20.0)),
    Scenario("collect-ray", "collect", "ray", 6, (4.0, 30.0)),
    Scenario("search-pool", "search", "pool", 20, (2.0, 35.0)),
    Scenario("search-ray", "search", "ray", 8, (4.0, 40.0)),
]


# ---------------------------------------------------------------- processes of one run


def marked_pids(token: str) -> dict[int, str]:
    """pid -> command line of every live process whose environment holds ``MARKER=token``."""
    needle = f"{MARKER}={token}".encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                found[int(entry.name)] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or a zombie: neither is left behind
            continue
    return found


def is_worker(cmdline: str, executor: str) -> bool:
    if executor == "pool":
        return "multiprocessing.spawn" in cmdline
    return cmdline.startswith("ray::") and "Agent" not in cmdline  # ray::IDLE, ray::run_job, not the agents


@dataclass
class ExitWatch:
    """Watches, in a thread, how long the processes of each killed run take to exit."""

    pending: dict[str, tuple[float, float]] = field(default_factory=dict)  # token -> (kill time, deadline)
    exited_s: dict[str, float] = field(default_factory=dict)
    left: dict[str, dict[int, str]] = field(default_factory=dict)  # token -> processes alive at the deadline
    slow: dict[str, dict[int, str]] = field(default_factory=dict)  # token -> processes alive after SLOW_EXIT_S
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self, token: str, killed_at: float, deadline_s: float) -> None:
        with self.lock:
            self.pending[token] = (killed_at, deadline_s)

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                items = list(self.pending.items())
            for token, (killed_at, deadline_s) in items:
                alive = marked_pids(token)
                now = time.monotonic()
                if not alive:
                    self._resolve(token, exited=now - killed_at)
                elif now - killed_at > SLOW_EXIT_S and token not in self.slow:
                    self.slow[token] = alive
                elif now - killed_at > deadline_s:
                    self.left[token] = alive
                    for pid in alive:  # ours by the marker; recorded above, then stopped so the run can go on
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    self._resolve(token, exited=None)
            self.stop.wait(0.25)

    def _resolve(self, token: str, exited: float | None) -> None:
        with self.lock:
            self.pending.pop(token, None)
            if exited is not None:
                self.exited_s[token] = exited

    def drain(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.5)


# ---------------------------------------------------------------- one run, killed or not


def launch(args: list[str], env: dict[str, str], token: str, log: Path) -> subprocess.Popen:
    """``dass ARGS`` in a session of its own (so that no signal but ours reaches it), marked with ``token``."""
    with open(log, "a") as out:
        out.write(f"\n$ dass {' '.join(args)}\n")
        out.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "dass", *args],
            env={**env, MARKER: token},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_when(proc: subprocess.Popen, token: str, executor: str, mode: str, rng: random.Random, scenario: Scenario):
    """Wait for the kill moment of ``mode``; SIGKILL the driver then. Returns (killed, delay after launch)."""
    start = time.monotonic()
    if mode == "startup":  # 0-2 s after the first worker appears
        deadline = start + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if any(is_worker(c, executor) for c in marked_pids(token).values()):
                break
            time.sleep(0.05)
        wait_s = rng.uniform(0.0, 2.0)
    else:
        wait_s = rng.uniform(*scenario.random_s)
    end = time.monotonic() + wait_s
    while proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    delay = time.monotonic() - start
    if proc.poll() is not None:
        return False, delay
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True, delay


def finished_rows(db: Path) -> dict[tuple, dict]:
    """The finished (done or failed) records of ``db`` by key; none when the run had not created it yet."""
    if not db.exists():
        return {}
    with SQLiteStore(db, writer=False) as store:
        return {key(r): r for r in store.records()}


def comparable(r: dict) -> dict:
    """A record without what legitimately differs between an interrupted and an uninterrupted run."""
    out = {k: v for k, v in r.items() if k not in TIMING_FIELDS}
    out["extra"] = {k: v for k, v in (r.get("extra") or {}).items() if k != "job_time_s"}
    return out


def retrained(records: list[dict], trace: Path) -> int:
    """Training starts of a job after its record was finished.

    The trace names (task, teacher, genome, seed) but not the budget, and a search trains one genome at
    several budgets, one after another: a start is legitimate when it falls between the creation and the end
    of a record of that genome (a job is created only when it is asked for), and a retraining otherwise.
    """
    spans: dict[tuple, list[tuple[float, float]]] = {}
    for r in records:
        spans.setdefault((r["task_id"], r["teacher_id"], r["genome_hash"], str(r["seed"])), []).append(
            (r["created_at"], r["finished_at"])
        )
    again = 0
    for line in trace.read_text().splitlines() if trace.exists() else []:
        t, *k = line.split()
        known = spans.get(tuple(k))
        if known and not any(created - 1e-3 <= float(t) <= finished for created, finished in known):
            again += 1
    return again


def search_result(run: Path) -> dict[str, Any]:
    """What an uninterrupted search must equal: front, history, the ledger of trainings and the adaptation."""
    state = json.loads((run / "state.json").read_text())
    return {
        "front": json.loads((run / "front.json").read_text()),
        "history": json.loads((run / "history.json").read_text()),
        "ledger": state.get("ledger"),
        "rng": state.get("rng"),
        "predictions": state.get("predictions"),
    }


# ---------------------------------------------------------------- a scenario


def reference(scenario: Scenario, work: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """The uninterrupted run of ``scenario`` (chain 0), timed."""
    token = f"{scenario.name}-ref"
    start = time.monotonic()
    proc = launch(scenario.args(work, 0), env, token, log)
    rc = proc.wait()
    seconds = time.monotonic() - start
    if rc != 0:
        raise SystemExit(f"the uninterrupted {scenario.name} run failed (exit {rc}); see {log}")
    rows = finished_rows(scenario.store(work, 0))
    out = {"seconds": seconds, "records": {k: comparable(r) for k, r in rows.items()}}
    if scenario.command == "search":
        out["search"] = search_result(scenario.target(work, 0))
    return out


def run_scenario(
    scenario: Scenario, work: Path, env: dict[str, str], rng: random.Random, ref: dict[str, Any], watch: ExitWatch
) -> dict[str, Any]:
    log = work / f"{scenario.name}.log"
    attempts: list[dict[str, Any]] = []
    chains: list[dict[str, Any]] = []
    kills = 0
    chain, fresh = 1, True
    snapshots: dict[tuple, dict] = {}
    changed = 0
    unreadable: list[str] = []
    trace = work / f"{scenario.name}-1.trace"

    def close_chain(finished_rc: int | None) -> None:
        """Check the chain's store and result against the uninterrupted run."""
        nonlocal snapshots, changed
        env_chain = {**env, "DASS_TRACE_JOBS": str(trace)}
        rc = finished_rc
        if rc is None:  # the kills are spent: finish the chain uninterrupted
            proc = launch(scenario.resume_args(work, chain), env_chain, f"{scenario.name}-{chain}-end", log)
            rc = proc.wait()
        db = scenario.store(work, chain)
        with SQLiteStore(db, writer=False) as store:
            recs, counts = store.records(), store.counts()
        keys = [key(r) for r in recs]
        final = {key(r): r for r in recs}
        lost = sum(1 for k in snapshots if k not in final)
        changed += sum(1 for k, r in snapshots.items() if k in final and final[k] != r)
        mine = {k: comparable(r) for k, r in final.items()}
        result = {
            "chain": chain,
            "exit_code": rc,
            "records": len(recs),
            "pending_or_running": counts.get("pending", 0) + counts.get("running", 0),
            "lost": lost,
            "duplicates": len(keys) - len(set(keys)),
            "retrained": retrained(recs, trace),
            "changed": changed,
            "records_equal_uninterrupted": mine == ref["records"],
            "records_differing": sorted(
                str(k[2]) for k in set(mine) | set(ref["records"]) if mine.get(k) != ref["records"].get(k)
            ),
            "trace_starts": len(trace.read_text().splitlines()) if trace.exists() else 0,
        }
        if scenario.command == "search":
            got = search_result(scenario.target(work, chain))
            result["result_equal_uninterrupted"] = got == ref["search"]
            result["result_parts_differing"] = [k for k in got if got[k] != ref["search"][k]]
            clock = json.loads((scenario.target(work, chain) / "clock.json").read_text())
            result["sessions_counted"] = clock.get("sessions")
        chains.append(result)
        snapshots, changed = {}, 0

    while kills < scenario.kills:
        mode = "startup" if len(attempts) % 2 == 0 else "random"
        args = scenario.args(work, chain) if fresh else scenario.resume_args(work, chain)
        token = f"{scenario.name}-{chain}-{len(attempts)}"
        proc = launch(args, {**env, "DASS_TRACE_JOBS": str(trace)}, token, log)
        killed, delay = kill_when(proc, token, scenario.executor, mode, rng, scenario)
        attempt = {"chain": chain, "mode": mode, "delay_s": round(delay, 2), "killed": killed, "resumed": not fresh}
        if killed:
            kills += 1
            watch.watch(token, time.monotonic(), EXIT_DEADLINE_S[scenario.executor])
            try:
                for k, r in finished_rows(scenario.store(work, chain)).items():
                    before = snapshots.setdefault(k, r)
                    changed += before != r
            except Exception as e:  # noqa: BLE001 -- a store a kill left unreadable is a finding, recorded
                unreadable.append(f"{token}: {type(e).__name__}: {e}")
        attempt["token"] = token
        attempt["exit_code"] = proc.returncode
        attempts.append(attempt)
        print(f"{scenario.name} chain {chain} {mode:7s} after {delay:5.1f} s: " + ("killed" if killed else "finished"))
        fresh = False
        if not killed:  # the run finished before its kill: the chain is done; a new one takes the next kills
            close_chain(proc.returncode)
            chain, fresh = chain + 1, True
            trace = work / f"{scenario.name}-{chain}.trace"
    if not fresh:
        close_chain(None)
    return {"attempts": attempts, "chains": chains, "unreadable_after_kill": unreadable}


def summary(name: str, reference_s: float, outcome: dict[str, Any], watch: ExitWatch) -> dict[str, Any]:
    killed = [a for a in outcome["attempts"] if a["killed"]]
    exits = [watch.exited_s[a["token"]] for a in killed if a["token"] in watch.exited_s]
    left = {a["token"]: watch.left[a["token"]] for a in killed if a["token"] in watch.left}
    chains = outcome["chains"]
    for a in killed:
        a["exited_s"] = round(watch.exited_s[a["token"]], 2) if a["token"] in watch.exited_s else None
    return {
        "scenario": name,
        "kills": len(killed),
        "kills while workers start": sum(a["mode"] == "startup" for a in killed),
        "chains": len(chains),
        "uninterrupted run (s)": round(reference_s, 1),
        "records lost": sum(c["lost"] for c in chains),
        "duplicates": sum(c["duplicates"] for c in chains),
        "finished jobs retrained": sum(c["retrained"] for c in chains),
        "finished rows changed": sum(c["changed"] for c in chains),
        "processes left behind": sum(len(v) for v in left.values()),
        "slowest exit after a kill (s)": round(max(exits), 1) if exits else None,
        "resumes equal to the uninterrupted run": sum(
            c["records_equal_uninterrupted"] and c.get("result_equal_uninterrupted", True) and c["exit_code"] == 0
            for c in chains
        ),
        "left_behind": {t: sorted(v.values()) for t, v in left.items()},
        # what was still running 10 s after a kill (Ray's agents wait for a GCS that died with the driver)
        "slow_to_exit": sorted(
            {c.split(" --")[0][:80] for a in killed for c in watch.slow.get(a["token"], {}).values()}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", nargs="*", default=[s.name for s in SCENARIOS], help="which to run")
    parser.add_argument("--kills-scale", type=float, default=1.0, help="multiply every scenario's kills")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs, stores, runs)")
    parser.add_argument("--out", default=str(result_path("fault_injection")), help="the result JSON")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="dass-faults-"))
    (work / "suite.toml").write_text(SUITE)
    env = {**os.environ, "DASS_CACHE": str(work / "cache"), "WANDB_MODE": "disabled"}
    watch = ExitWatch()
    watcher = threading.Thread(target=watch.run, daemon=True)
    watcher.start()
    started = time.monotonic()
    rows, details, refs = [], {}, {}
    try:
        for scenario in SCENARIOS:
            if scenario.name not in args.scenarios:
                continue
            scenario = Scenario(
                scenario.name,
                scenario.command,
                scenario.executor,
                max(1, round(scenario.kills * args.kills_scale)),
                scenario.random_s,
            )
            print(f"== {scenario.name}: the uninterrupted run", flush=True)
            ref = reference(scenario, work, env, work / f"{scenario.name}.log")
            refs[scenario.name] = ref
            outcome = run_scenario(scenario, work, env, rng, ref, watch)
            details[scenario.name] = outcome
            rows.append((scenario.name, ref["seconds"], outcome))
        watch.drain(max(EXIT_DEADLINE_S.values()) + 10)
    finally:
        watch.stop.set()
        watcher.join()
    table = [summary(name, seconds, outcome, watch) for name, seconds, outcome in rows]
    for name, _, outcome in rows:  # per-attempt exit times were filled in by summary()
        details[name] = outcome
    # the executor does not change what a run computes: Ray's uninterrupted runs equal the pool's
    ray_equals_pool = {
        command: refs[f"{command}-ray"]["records"] == refs[f"{command}-pool"]["records"]
        and refs[f"{command}-ray"].get("search") == refs[f"{command}-pool"].get("search")
        for command in ("collect", "search")
        if f"{command}-ray" in refs and f"{command}-pool" in refs
    }
    print(f"uninterrupted Ray runs equal to the pool's: {ray_equals_pool}")
    checks = [
        "records lost",
        "duplicates",
        "finished jobs retrained",
        "finished rows changed",
        "processes left behind",
    ]
    print("\n| scenario | kills | at start-up | " + " | ".join(checks) + " | slowest exit (s) | equal resumes |")
    for r in table:
        cells = [r["scenario"], r["kills"], r["kills while workers start"], *(r[c] for c in checks)]
        cells += [r["slowest exit after a kill (s)"], f"{r['resumes equal to the uninterrupted run']}/{r['chains']}"]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    write_json(
        args.out,
        {
            "measured": provenance(),
            "seed": args.seed,
            "wall_s": round(time.monotonic() - started, 1),
            "exit_deadline_s": EXIT_DEADLINE_S,
            "scenarios": table,
            "ray_equals_pool": ray_equals_pool,
            "details": details,
        },
    )
    if args.keep:
        print(f"working folder: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def render(data: dict) -> str:
    """RESULTS.md's table of this benchmark's result file."""
    from benchmarks.render import table

    columns = [
        "kills",
        "kills while workers start",
        "chains",
        "records lost",
        "duplicates",
        "finished jobs retrained",
        "finished rows changed",
        "processes left behind",
        "slowest exit after a kill (s)",
        "resumes equal to the uninterrupted run",
        "uninterrupted run (s)",
    ]
    rows = [[f"`{r['scenario']}`", *(r[c] for c in columns)] for r in data["scenarios"]]
    total = sum(r["kills"] for r in data["scenarios"])
    slow = [
        f"`{r['scenario']}`: " + ", ".join(f"`{name}`" for name in r["slow_to_exit"])
        for r in data["scenarios"]
        if r.get("slow_to_exit")
    ]
    same = ", ".join(f"{command}: {'yes' if equal else 'no'}" for command, equal in data["ray_equals_pool"].items())
    return (
        f"{total} SIGKILLs in {data['wall_s']:,.0f} s (seed {data['seed']}). A chain is one store or run "
        "directory, killed and resumed until it finished; its resume must equal the uninterrupted run. A "
        f"killed run's processes must exit within {data['exit_deadline_s']['pool']:.0f} s (pool) or "
        f"{data['exit_deadline_s']['ray']:.0f} s (Ray) to not count as left behind.\n\n"
        + table(["scenario", *columns], rows, [False] + [True] * len(columns))
        + f"\n\nUninterrupted Ray runs equal to the pool's ({same}). "
        + (f"Still running {SLOW_EXIT_S:.0f} s after a kill (then gone): " + "; ".join(slow) + "." if slow else "")
    )


if __name__ == "__main__":
    main()
