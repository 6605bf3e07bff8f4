"""Contact-hours files for notify tests (notify reads per-clinic hours from a JSON file)."""

import json
from pathlib import Path

WEEKDAYS_9_TO_6 = {day: ["09:00", "18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def write_hours(folder: Path, default_mode: str = "always",
                clinics: dict[str, dict[str, object]] | None = None,
                default_hours: dict[str, list[str]] | None = None) -> str:
    """Write an hours file in `folder` and return its path."""
    default: dict[str, object] = {"name": "Reception", "mode": default_mode}
    if default_mode == "opening_hours" or default_hours:
        default["hours"] = default_hours or WEEKDAYS_9_TO_6
    path = folder / f"contact_hours_{len(list(folder.glob('contact_hours_*.json')))}.json"
    path.write_text(json.dumps({"default": default, "clinics": clinics or {}}), encoding="utf-8")
    return str(path)
