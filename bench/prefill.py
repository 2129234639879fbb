"""Render benchmark (issue 19): the one table with register values pre-filled against the same sheet without.

A demo village's quarterly basics: in one setting four of its fields have a source department that supplied
them for the period (the form then reads the register in one more statement and shows value, source and date
in a dispute box); in the other the same fields have no source (the form as before). The two alternate in
blocks, each block after one unmeasured render that reloads the catalogue the switch changed, so that drift
hits both alike. Rendered in-process through Django's test client (the page's own work, no network).
`python3 -m bench.prefill` alone, or as part of `python3 dev.py bench`."""

from __future__ import annotations

import os
import statistics
import sys
import time

SOURCED = {"elderly_over_60": "civil", "registered_population": "stats", "households": "stats"}
BLOCKS, RENDERS = 45, 6  # short blocks: load from other work on the machine drifts across both alike


def _setup():
    from core.models import Department, Unit, User
    from reporting.models import Field, Submission
    from reporting.services.supplies import SupplyRow, supply_values

    unit = Unit.objects.select_related("area").get(members__username="village")
    period = "2026Q4"
    # the form is shown only while the unit has not filed the period (a filed one redirects to its page)
    assert not Submission.objects.by_units().filter(unit=unit, period=period, sheet__code="village_basics").exists()
    for code, department in SOURCED.items():
        source = Department.objects.get(code=department)
        Field.objects.filter(code=code).update(source=source)
        supply_values(
            department=source,
            rows=[SupplyRow("1", unit.area.code, period, code, "321")],
            by=User.objects.get(username=department),
        )
    return unit, period


def _set_sources(on: bool) -> None:
    from core.models import Department
    from reporting.models import Field

    for code, department in SOURCED.items():
        Field.objects.filter(code=code).update(source=Department.objects.get(code=department) if on else None)


def main() -> dict:
    from django.test.utils import override_settings

    with override_settings(ALLOWED_HOSTS=["testserver"]):  # the test client's host; nothing is served
        return _measure()


def _measure() -> dict:
    from django.test import Client

    from core.models import User

    _unit, period = _setup()
    cadre = User.objects.get(username="village")
    client = Client()
    client.force_login(cadre)
    url = f"/fill/village_basics/{period}/"
    times: dict[bool, list[float]] = {True: [], False: []}
    for block in range(BLOCKS * 2):
        on = block % 2 == 0
        _set_sources(on)
        page = client.get(url)  # unmeasured: reloads the catalogue the switch changed
        assert page.status_code == 200 and (("有误？提出异议" in page.content.decode()) == on), page.status_code
        for _ in range(RENDERS):
            started = time.perf_counter()
            client.get(url)
            times[on].append(time.perf_counter() - started)
    _set_sources(True)
    with_register, without = statistics.median(times[True]), statistics.median(times[False])
    return {
        "with_ms": with_register * 1000,
        "without_ms": without * 1000,
        "ratio": without / with_register,
        "renders": BLOCKS * RENDERS,
    }


def render(r: dict) -> str:
    return (
        "\n## The one table with register values (issue 19), 2026-11-29\n\n"
        "`python3 -m bench.prefill`: a demo village's quarterly basics rendered in-process, "
        f"{r['renders']} renders each, interleaved in blocks; three fields supplied by their source departments "
        "against the same fields without a source.\n\n"
        "| form | median render | speed against the form without register values (target ≥ 0.9) |\n|---|---|---|\n"
        f"| without register values | {r['without_ms']:.1f} ms | 1.00 |\n"
        f"| with register values pre-filled | {r['with_ms']:.1f} ms | {r['ratio']:.2f} |\n"
    )


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.core.management import call_command

    from reporting.demo import demo_loaded, load_demo

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # pages render with production's static storage
    if not demo_loaded():
        load_demo(checks=False)
    figures = main()
    print(render(figures))
    if "--write" in sys.argv:
        from bench.run import REPORT

        with REPORT.open("a") as out:
            out.write(render(figures))
