"""The build's JSON log as the benchmark scripts read it (`bench/run`, `bench/profile`): its
"stage finished" events, each stage's window of time, and which stages were running at a moment."""

import datetime
import json
from pathlib import Path


def stage_events(log: Path):
    """Each "stage finished" event of the log: (the event, its fields)."""
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        fields = event.get("fields", event)
        if fields.get("message") == "stage finished":
            yield event, fields


def stage_windows(log: Path) -> list[tuple[float, float, str]]:
    """(start, end, stage) of each "stage finished" event, in seconds since the epoch (its end
    less its duration)."""
    windows = []
    for event, fields in stage_events(log):
        end = datetime.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
        windows.append((end - fields.get("duration_ms", 0) / 1000, end, fields.get("stage", "?")))
    return windows


def stage_of(at: float, windows: list[tuple[float, float, str]]) -> str:
    """The stage running at time `at`. Stages that run side by side share it ("gate + history")."""
    running = sorted({stage for start, end, stage in windows if start <= at <= end})
    if running:
        return " + ".join(running)
    later = [stage for start, _, stage in windows if start > at]
    return "(between stages)" if later else "(after the stages)"
