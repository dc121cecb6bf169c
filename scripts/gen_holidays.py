#!/usr/bin/env python3
"""Generate workflows/holidays.toml from the PyPI package chinese-calendar.

The business-hours calendar of certdesk (crates/domain/src/calendar) reads
workflows/holidays.toml: the public holidays of mainland China and the 调休
make-up working days (weekend days declared working days by the State
Council). That file is derived, deterministically, from the constants shipped
by ``chinese-calendar`` at a pinned version, so that a reviewer can regenerate
it and get a byte-identical result.

Usage (from anywhere):

    python3 scripts/gen_holidays.py            # write workflows/holidays.toml
    python3 scripts/gen_holidays.py --check    # exit 1 if the file is stale

The package is installed into a virtual environment: the one named by the
environment variable HOLIDAYS_VENV (created if missing, reused otherwise), or a
throw-away one in a temporary directory that is removed afterwards. E.g.

    HOLIDAYS_VENV=/tmp/holidays-venv python3 scripts/gen_holidays.py

The script only needs the Python standard library itself; the package is
imported inside the venv by a child process that prints the raw data as JSON.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
import venv
from datetime import date
from pathlib import Path

PACKAGE = "chinese-calendar"
VERSION = "1.11.0"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "workflows" / "holidays.toml"

# Runs inside the venv. Prints {"version", "holidays", "workdays"} where each
# table maps an ISO date to the holiday's Chinese name. In chinese_calendar
# 1.11.0 the dicts `constants.holidays` / `constants.workdays` map
# datetime.date -> Holiday.<member>.value, i.e. the *English* name; the Chinese
# name is the enum member's `.chinese` attribute, so we map back through the
# enum.
EXTRACT = r"""
import json, sys
import chinese_calendar
from chinese_calendar import constants

by_value = {member.value: member for member in constants.Holiday}

def table(source):
    out = {}
    for day, value in source.items():
        member = by_value.get(value)
        out[day.isoformat()] = member.chinese if member is not None else str(value)
    return out

json.dump(
    {
        "version": chinese_calendar.__version__,
        "holidays": table(constants.holidays),
        "workdays": table(constants.workdays),
    },
    sys.stdout,
    ensure_ascii=False,
    sort_keys=True,
)
"""


def venv_python(venv_dir: Path) -> Path:
    """Path of the interpreter inside a venv (POSIX or Windows layout)."""
    for candidate in (venv_dir / "bin" / "python", venv_dir / "Scripts" / "python.exe"):
        if candidate.exists():
            return candidate
    raise SystemExit(f"error: no python interpreter found in venv {venv_dir}")


def extract(venv_dir: Path) -> dict:
    """Create/reuse the venv, install the pinned package, and read its data."""
    if not (venv_dir / "pyvenv.cfg").exists():
        print(f"creating venv {venv_dir}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=False).create(venv_dir)
    python = venv_python(venv_dir)
    subprocess.run(
        [
            str(python), "-m", "pip", "install",
            "--quiet", "--disable-pip-version-check", "--no-input",
            f"{PACKAGE}=={VERSION}",
        ],
        check=True,
    )
    result = subprocess.run(
        [str(python), "-c", EXTRACT],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    data = json.loads(result.stdout.decode("utf-8"))
    if data["version"] != VERSION:
        raise SystemExit(f"error: expected {PACKAGE} {VERSION}, venv has {data['version']}")
    return data


def toml_string(text: str) -> str:
    """A TOML basic string; JSON escapes are a subset of TOML's."""
    return json.dumps(text, ensure_ascii=False)


def render(data: dict) -> str:
    """The whole holidays.toml text; a pure function of the package data."""
    holidays: dict[str, str] = data["holidays"]
    workdays: dict[str, str] = data["workdays"]

    both = sorted(set(holidays) & set(workdays))
    if both:
        raise SystemExit(f"error: dates listed as both holiday and workday: {both}")
    for day in workdays:
        if date.fromisoformat(day).weekday() < 5:
            raise SystemExit(f"error: make-up workday {day} is not a weekend day")

    # Same definition as the package's own _validate_date: the years from the
    # first to the last year present in the holidays table.
    years = sorted({date.fromisoformat(day).year for day in holidays})
    first_year, last_year = years[0], years[-1]
    missing = sorted(set(range(first_year, last_year + 1)) - set(years))
    if missing:
        raise SystemExit(f"error: package has no holidays for years {missing}")
    for day in workdays:
        if not first_year <= date.fromisoformat(day).year <= last_year:
            raise SystemExit(f"error: workday {day} outside covered years")

    lines = [
        f"# GENERATED by scripts/gen_holidays.py from {PACKAGE} {VERSION} -- DO NOT EDIT BY HAND.",
        "# Regenerate: HOLIDAYS_VENV=/tmp/holidays-venv python3 scripts/gen_holidays.py",
        "#",
        "# Public holidays of mainland China and 调休 make-up working days, read by",
        "# certdesk_domain::calendar::BusinessCalendar. Dates are Beijing dates.",
        "",
        f'source = "{PACKAGE} {VERSION}"',
        f"covered_from = {first_year:04d}-01-01",
        f"covered_until = {last_year:04d}-12-31",
        "",
        "# Days off (including the weekend days inside a holiday period).",
        "[holidays]",
    ]
    lines += [f"{day} = {toml_string(holidays[day])}" for day in sorted(holidays)]
    lines += [
        "",
        "# 调休: weekend days that are working days.",
        "[workdays]",
    ]
    lines += [f"{day} = {toml_string(workdays[day])}" for day in sorted(workdays)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="file to write")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the file differs"
    )
    args = parser.parse_args()

    env_venv = os.environ.get("HOLIDAYS_VENV")
    if env_venv:
        data = extract(Path(env_venv))
    else:
        with tempfile.TemporaryDirectory(prefix="holidays-venv-") as tmp:
            data = extract(Path(tmp))
    text = render(data)

    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current == text:
            print(f"{output} is up to date", file=sys.stderr)
            return 0
        sys.stderr.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=str(output),
                tofile="regenerated",
            )
        )
        return 1

    output.parent.mkdir(parents=True, exist_ok=True)
    # newline="\n": identical bytes on every platform.
    with output.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    print(
        f"wrote {output}: {len(data['holidays'])} holidays, {len(data['workdays'])} workdays",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
