"""The demo county's registers (一数一源): civil affairs and the statistics bureau supply village facts.

Civil affairs is the source of the 低保 and 特困 figures and of the elderly over 60, the statistics bureau of
the registered population. Both supply every village for 2026Q3 and 2026Q4 through the supply service (so
supplies, versions and deliveries are the real ones); the villages' 2026Q3 filings confirm the register's
values, one village disputed one of them and civil affairs answered that its value stands. 2026Q4 is not
filed yet: each village's one table shows the register's values to confirm.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.utils import timezone

from core.models import Department, Unit, User
from reporting.models import Dispute, DisputeStatus, Field, Submission, SubmissionVersion
from reporting.services.supplies import SupplyRow, supply_values

SOURCES = {
    "civil": ["dibao_households", "dibao_people", "destitute_people", "elderly_over_60"],
    "stats": ["registered_population"],
}
SOURCED = [code for codes in SOURCES.values() for code in codes]
HISTORY_PERIOD, CURRENT_PERIOD = "2026Q3", "2026Q4"
DISPUTED_FIELD = "elderly_over_60"
DISPUTE_REASON = "本村今年新迁入 12 位老人，民政系统尚未更新"
DISPUTE_ANSWER = "迁入人员须在户籍迁入并核定后计入，本局数据以核定名单为准，核定后将更正"


def assign_sources() -> None:
    """Make civil affairs and the statistics bureau the sources of their fields."""
    for code, field_codes in SOURCES.items():
        Field.objects.filter(code__in=field_codes).update(source=Department.objects.get(code=code))


def registers(villages: list[Unit], filed: dict[int, dict[str, Any]]) -> dict[str, dict[int, dict[str, int]]]:
    """Each period's register values per village: 2026Q3 as the villages filed them, 2026Q4 a little on."""
    rng = random.Random(19)
    third: dict[int, dict[str, int]] = {}
    fourth: dict[int, dict[str, int]] = {}
    for village in villages:
        people = filed[village.pk]["registered_population"]
        households = rng.randint(3, max(4, people // 120))
        third[village.pk] = {
            "registered_population": people,
            "elderly_over_60": filed[village.pk]["elderly_over_60"],
            "dibao_households": households,
            "dibao_people": households * 2 + rng.randint(0, households),
            "destitute_people": rng.randint(0, 6),
        }
        fourth[village.pk] = {
            code: max(0, value + rng.choice((0, 0, 0, 1, -1, 2))) for code, value in third[village.pk].items()
        }
    return {HISTORY_PERIOD: third, CURRENT_PERIOD: fourth}


def supply(villages: list[Unit], values: dict[str, dict[int, dict[str, int]]]) -> None:
    """Each source supplies its fields for every village and both periods, as its system would."""
    for code, field_codes in SOURCES.items():
        department = Department.objects.get(code=code)
        rows = [
            SupplyRow(str(n), village.area.code, period, field_code, by_unit[village.pk][field_code])
            for period, by_unit in values.items()
            for village in villages
            for n, field_code in enumerate(field_codes)
        ]
        result = supply_values(department=department, rows=rows, by=User.objects.get(username=code))
        if result.conflicts:  # the demo's own data: a refusal here is a bug in it
            raise RuntimeError(f"demo supply refused: {result.conflicts[:3]}")


def answers(village: Unit, values: dict[str, Any], register: dict[str, int], disputing: bool) -> dict[str, Any]:
    """How a village's 2026Q3 filing answered the register: confirmed, or (one village) disputed."""
    confirmed = [code for code in SOURCED if code in values and code in register]
    disputed = {}
    if disputing:
        confirmed.remove(DISPUTED_FIELD)
        disputed[DISPUTED_FIELD] = {"reason": DISPUTE_REASON, "register": register[DISPUTED_FIELD]}
        values[DISPUTED_FIELD] = register[DISPUTED_FIELD] + 12
    for code in confirmed:
        values[code] = register[code]
    return {
        "confirmed": confirmed,
        "disputed": disputed,
        "confirmed_count": len(confirmed),
        "disputed_count": len(disputed),
        "typed_count": len(values) - len(confirmed),
    }


def answered_dispute(version: SubmissionVersion) -> Dispute:
    """The dispute one village raised in 2026Q3, already answered by civil affairs: its value stands."""
    civil = Department.objects.get(code="civil")
    unit_filing = version.submission
    supplied = Submission.objects.supplies().get(
        unit=unit_filing.unit, sheet=unit_filing.sheet, period=unit_filing.period, source=civil
    )
    supply_version = supplied.versions.get(number=supplied.current_version)
    return Dispute.objects.create(
        unit=unit_filing.unit,
        source=civil,
        field=Field.objects.get(code=DISPUTED_FIELD),
        sheet=unit_filing.sheet,
        period=unit_filing.period,
        submission=unit_filing,
        version=version,
        supply=supplied,
        supply_version=supply_version,
        register_value=version.disputed[DISPUTED_FIELD]["register"],
        unit_value=version.values[DISPUTED_FIELD],
        reason=DISPUTE_REASON,
        status=DisputeStatus.STANDS,
        answer=DISPUTE_ANSWER,
        answered_by=User.objects.get(username="civil"),
        answered_at=timezone.now() + dt.timedelta(minutes=1),
        notified_at=timezone.now(),  # civil affairs reads its queue; it has no webhook endpoint in the demo
    )
