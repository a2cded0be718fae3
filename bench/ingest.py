"""Loading throughput and memory: `pai ingest` against a floor measured in the same run.

The floor is the least any loader must do: parse each NDJSON line and validate
it with fhir.resources, in one process, nothing else. PAI does that plus
mapping, hashing, versioning and writing, with validation spread over both
cores. Targets: at least 60% of the floor's resources/s; peak memory (the
whole process tree) under 300 MB whatever the file size.

    .venv/bin/python -m bench.ingest                 # 100,000 EOBs + 100,000 Observations
    .venv/bin/python -m bench.ingest --count 10000   # a quicker run
    .venv/bin/python -m bench.ingest --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson
import psutil
import sqlalchemy

from api.fhir import resources
from api.synthetic import generate_plan

OUT = Path(__file__).resolve().parent / "out"
TYPES = ("ExplanationOfBenefit", "Observation")


@dataclass(frozen=True)
class Measurement:
    label: str
    resources: int
    seconds: float
    peak_mb: float

    @property
    def rate(self) -> float:
        return self.resources / self.seconds


def prepare_input(count: int, seed: int) -> Path:
    """A generated plan with exactly `count` EOBs and `count` Observations (cached in bench/out)."""
    target = OUT / f"ingest-{count}-{seed}"
    if all((target / f"{t}.ndjson").exists() for t in TYPES):
        return target
    with tempfile.TemporaryDirectory() as scratch:
        print(f"generating {count:,} EOBs and {count:,} Observations ...", flush=True)
        generate_plan(
            Path(scratch),
            members=max(100, count // 50),
            seed=seed,
            today=date(2026, 11, 1),
            claims_total=count,
            observations_total=count,
        )
        target.mkdir(parents=True, exist_ok=True)
        for resource_type in TYPES:
            shutil.move(
                Path(scratch) / f"{resource_type}.ndjson", target / f"{resource_type}.ndjson"
            )
    return target


def measure_floor(input_dir: Path) -> Measurement:
    process = psutil.Process()
    started = time.perf_counter()
    total = 0
    for resource_type in TYPES:
        with (input_dir / f"{resource_type}.ndjson").open("rb") as lines:
            for line in lines:
                issues = resources.validate(orjson.loads(line))
                if issues:
                    raise SystemExit(f"generated data is invalid: {issues}")
                total += 1
    seconds = time.perf_counter() - started
    return Measurement(
        "floor: parse + fhir.resources validation, 1 process",
        total,
        seconds,
        process.memory_info().rss / 2**20,
    )


def measure_pai(input_dir: Path, database_url: str, label: str, workers: int) -> Measurement:
    env = dict(os.environ, PAI_DATABASE_URL=database_url, PAI_REJECT_DIR=str(OUT / "rejects"))
    pai = Path(sys.executable).with_name("pai")
    subprocess.run([pai, "db", "upgrade"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    child = psutil.Popen(
        [pai, "ingest", "--workers", str(workers), str(input_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        # Listing children scans every process of the machine: do it once a second, and
        # read the known tree's memory four times a second, so the sampler stays cheap.
        nonlocal peak
        tree: list[psutil.Process] = [child]
        ticks = 0
        while not done.is_set():
            try:
                if ticks % 4 == 0:
                    tree = [child, *child.children(recursive=True)]
                peak = max(peak, sum(_proportional(p) for p in tree) / 2**20)
            except psutil.Error:
                pass
            ticks += 1
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = child.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"pai ingest failed ({child.returncode}):\n{output.decode()}")
    return Measurement(label, 2 * count_lines(input_dir), seconds, peak)


def _proportional(process: psutil.Process) -> float:
    """The process's proportional set size: pages shared with its parent (a forked
    validation worker shares the interpreter and fhir.resources) count once over the
    tree, as they take memory once. Falls back to RSS where PSS is not available."""
    try:
        return float(process.memory_full_info().pss)
    except (AttributeError, psutil.AccessDenied):
        return float(process.memory_info().rss)


def count_lines(input_dir: Path) -> int:
    with (input_dir / f"{TYPES[0]}.ndjson").open("rb") as lines:
        return sum(1 for _ in lines)


def fresh_postgres(url: str) -> tuple[str, sqlalchemy.Engine, str]:
    name = f"pai_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    return url.rsplit("/", 1)[0] + f"/{name}", admin, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="EOBs and Observations each")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--postgres", help="also load into a fresh database on this server")
    args = parser.parse_args()

    input_dir = prepare_input(args.count, args.seed)
    print(f"input: {input_dir}", flush=True)
    results = [measure_floor(input_dir)]
    print(f"floor: {results[0].rate:,.0f} resources/s", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/bench.sqlite"
        results.append(
            measure_pai(input_dir, url, f"pai ingest, SQLite, {args.workers} workers", args.workers)
        )
    if args.postgres:
        url, admin, name = fresh_postgres(args.postgres)
        try:
            results.append(
                measure_pai(
                    input_dir, url, f"pai ingest, PostgreSQL, {args.workers} workers", args.workers
                )
            )
        finally:
            with admin.connect() as connection:
                connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))

    floor = results[0]
    columns = ("resources", "seconds", "res/s", "of floor", "peak MB")
    widths = (10, 8, 8, 9, 8)
    print(
        "\n" + f"{'run':<48}" + "".join(f" {c:>{w}}" for c, w in zip(columns, widths, strict=True))
    )
    for result in results:
        print(
            f"{result.label:<48} {result.resources:>10,} {result.seconds:>8.1f} "
            f"{result.rate:>8,.0f} {result.rate / floor.rate:>8.0%} {result.peak_mb:>8.0f}"
        )
    verdicts = [(r.rate >= 0.6 * floor.rate and r.peak_mb < 300, r.label) for r in results[1:]]
    for ok, label in verdicts:
        print(f"{'meets' if ok else 'MISSES'} the target (>= 60% of floor, < 300 MB): {label}")


if __name__ == "__main__":
    main()
