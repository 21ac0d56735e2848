"""Where the benchmark scripts (`bench/run`, `bench/profile`) keep what outlives a clone: the
release build and the synthetic snapshots, under ROR_OPENDATA_CACHE (default
~/.cache/ror-opendata). One release build serves both scripts; a target folder in the clone would
cost a cold build of polars (about 13 minutes on 2 cores)."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ROR_OPENDATA_CACHE", Path.home() / ".cache/ror-opendata"))
TARGET = CACHE / "target-release"


def release_build(*targets: str) -> Path:
    """`cargo build --release --locked` of `targets` (e.g. "--bin", "ror-opendata") into the
    cache's target folder; returns its `release` folder."""
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", *targets], cwd=ROOT, env=env, check=True)
    return TARGET / "release"


def snapshot_folder(scale: float, seed: int, night: str = "") -> Path:
    """The cached snapshot of this scale and seed; `night` is "" for the first night, "-next" for
    the one after."""
    return CACHE / "bench" / "snapshots" / f"scale-{scale:g}-seed-{seed}{night}"
