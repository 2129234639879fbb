"""What the office sees when it reviews a data request: overlaps, warnings and the added burden."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.postgres.search import TrigramSimilarity
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import get_language

from core.models import Area, Unit
from reporting.catalogue import fieldtypes
from reporting.catalogue.periods import Period, periods_per_year
from reporting.filing.onetable import due_date
from reporting.models import Cadence, DataRequest, Field, Sheet, Submission, Subscription
from reporting.reads.indicators import operand_fields

SIMILAR = 0.1  # pg_trgm similarity worth showing (Chinese names share few trigrams)
DUPLICATE = 0.5  # similarity at which a proposed field is flagged as a likely duplicate
LEDGER_RECORDS_PER_YEAR = 12  # burden estimate for a ledger field: about one record a month

FORBIDDEN_MEDIA = re.compile(
    r"照片|图片|相片|截图|截屏|视频|录像|录屏|定位|轨迹|位置|经纬度|photo|picture|screenshot|"
    r"video|location|gps|trace",
    re.I,
)
CHECK_IN = re.compile(r"签到|打卡|在线时长|登录次数|点赞|转发|阅读量|check.?in|punch|online time|login", re.I)


@dataclass
class Match:
    field: Field
    reasons: list[str]
    similarity: float
    departments: list[str]
    reusable: bool = False  # the office may approve it instead of the proposed field (`overlaps`)


@dataclass
class Warning:
    code: str
    zh: str
    en: str


@dataclass
class Burden:
    units: int
    values_per_year: int  # everything the request asks for
    added_values_per_year: int  # of which not already asked of the same units by an active subscription
    minutes_per_year: int  # the added values, at the field types' typing times
    # what leaves OneTable to the department: every asked value, per unit, or (aggregate-only) none of them, only
    # the figures of the areas at the request's level
    unit_values_out_per_year: int = 0
    aggregate_level: str | None = None
    figures_per_year: int = 0

    @property
    def hours_per_year(self) -> float:
        return round(self.minutes_per_year / 60, 1)


@dataclass
class SourceOffer:
    """A field the department offers to supply, as the office weighs it."""

    field: Field
    receivers: list[str]  # departments whose active subscriptions take it today
    period: Period | None  # the last period begun before this one (None: a ledger)
    filed: int  # units that filed the field in that period: values a period they would no longer type
    covered: int  # units its active subscriptions cover at the sheet's levels inside the request's scope


def source_offers(request: DataRequest, today: dt.date | None = None) -> list[SourceOffer]:
    """Per field to supply: who receives it, and how many values a period the units would no longer type."""
    today = today or timezone.localdate()
    offers = []
    for offered in request.source_fields.select_related("sheet", "source").order_by("sheet__order", "order"):
        sheet = offered.sheet
        period = None if sheet.is_ledger else Period.containing(today, sheet.period_type).previous()
        filed = 0
        if period is not None:
            filed = (
                Submission.objects.by_units()
                .filter(sheet=sheet, period=str(period), unit__area__path__startswith=request.scope.path)
                .filter(versions__values__has_key=offered.code)
                .values("unit")
                .distinct()
                .count()
            )
        offers.append(SourceOffer(offered, _receivers(offered), period, filed, _covered_units(offered, request)))
    return offers


def _covered_units(offered: Field, request: DataRequest) -> int:
    """Units inside the request's scope, at the sheet's levels, that an active subscription taking it covers."""
    covered = Area.objects.filter(
        Subscription.objects.active().filter(fields=offered).covered_areas(),
        path__startswith=request.scope.path,
        level__in=offered.sheet.unit_levels,
    )
    return Unit.objects.filter(area__in=covered).count()


def overlaps(proposal: dict) -> list[Match]:
    """Existing fields that may already cover a proposed one, best first; those of its type, cadence and a level
    of units it asks are `reusable`: a subscription to one asks the same units the same kind of value as often."""
    name = proposal.get("name_zh") or ""
    sheet = Sheet.objects.filter(code=proposal.get("sheet") or "").first()
    candidates = (
        Field.objects.active()
        .annotate(similarity=TrigramSimilarity("name_zh", name))
        .filter(Q(code=proposal.get("code")) | Q(name_zh=name) | Q(similarity__gt=SIMILAR))
        .select_related("sheet")
        .order_by("-similarity", "code")[:8]
    )
    matches = []
    for existing in candidates:
        reasons = []
        if existing.code == proposal.get("code"):
            reasons.append("same_code")
        if existing.name_zh == name:
            reasons.append("same_name")
        elif existing.similarity > SIMILAR:
            reasons.append("similar_name")
        if existing.type == proposal.get("type") and existing.unit_of_measure == (
            proposal.get("unit_of_measure") or ""
        ):
            reasons.append("same_unit_and_type")
        reusable = (
            sheet is not None
            and existing.type == proposal.get("type")
            and existing.sheet.cadence == sheet.cadence
            and bool(set(existing.sheet.unit_levels) & set(sheet.unit_levels))
        )
        matches.append(Match(existing, reasons, round(existing.similarity, 2), _receivers(existing), reusable))
    return matches


def _receivers(existing: Field) -> list[str]:
    return sorted(set(Subscription.objects.active().filter(fields=existing).values_list("department__name", flat=True)))


def warnings(request: DataRequest, today: dt.date | None = None) -> list[Warning]:
    """Demands the rules against fingertip formalism frown on."""
    today = today or timezone.localdate()
    found: list[Warning] = []
    texts = [f"{p.get('name_zh', '')} {p.get('name_en', '')} {p.get('description', '')}" for p in request.proposed]
    texts += [f"{f.name_zh} {f.name_en}" for f in request.fields.all()]
    if any(FORBIDDEN_MEDIA.search(t) for t in texts):
        found.append(
            Warning(
                "media", "要求上传照片、截图、视频或位置轨迹", "asks for photos, screenshots, video or location traces"
            )
        )
    if any(CHECK_IN.search(t) for t in texts):
        found.append(
            Warning(
                "check_in",
                "含签到、打卡、在线时长等形式主义要求",
                "asks for check-ins, punch-ins, online time or similar",
            )
        )
    if any(p.get("cadence") in ("daily", "weekly") for p in request.proposed):
        found.append(Warning("cadence", "报送频次高于每月一次", "a cadence finer than monthly"))
    lead = _lead_days(request, today)
    if lead is not None and lead < settings.ONETABLE_MIN_LEAD_DAYS:
        found.append(
            Warning(
                "short_notice",
                f"首个报告期距截止仅 {lead} 天（不少于 {settings.ONETABLE_MIN_LEAD_DAYS} 天）",
                f"the first period leaves units only {lead} days (at least {settings.ONETABLE_MIN_LEAD_DAYS})",
            )
        )
    if any(
        m.similarity >= DUPLICATE or {"same_code", "same_name"} & set(m.reasons)
        for p in request.proposed
        for m in overlaps(p)
    ):
        found.append(Warning("duplicate", "提出的新字段与已有字段重复", "a proposed field duplicates an existing one"))
    return found


def _lead_days(request: DataRequest, today: dt.date) -> int | None:
    try:
        first = Period.parse(request.first_period)
    except ValueError:
        return None
    sheets = {p.get("sheet") for p in request.proposed} | set(request.fields.values_list("sheet__code", flat=True))
    days = [
        (due - today).days
        for sheet in Sheet.objects.filter(code__in=sheets)
        if sheet.period_type == first.type and (due := due_date(sheet, first))
    ]
    return min(days) if days else None


def burden(request: DataRequest) -> Burden:
    """Units × fields × periods a year, and the typing time of what is not already asked of the same units."""
    units_by_level = _units_by_level(request)
    total = added = seconds = 0
    # an indicator asks the units what it reads (its operands), as a field would
    operands = operand_fields(list(request.indicators.all()))
    requested = Field.objects.filter(Q(pk__in=request.fields.all()) | Q(pk__in=operands)).select_related("sheet")
    asked: list[tuple[str, str, str, str]] = [
        (f.sheet.cadence, f.type, ",".join(f.sheet.unit_levels), "existing" if _already_asked(f, request) else "new")
        for f in requested
    ]
    sheets = {s.code: s for s in Sheet.objects.filter(code__in=[p.get("sheet") for p in request.proposed])}
    asked += [
        (sheets[p["sheet"]].cadence, p.get("type", "text"), ",".join(sheets[p["sheet"]].unit_levels), "new")
        for p in request.proposed
        if p.get("sheet") in sheets
    ]
    # the units asked are those of every level something is asked of, each unit once (150 villages + 12 townships)
    units = sum(units_by_level.get(level, 0) for level in {lv for _, _, levels, _ in asked for lv in levels.split(",")})
    for cadence, type_code, levels, state in asked:
        n_units = sum(units_by_level.get(level, 0) for level in levels.split(","))
        per_year = LEDGER_RECORDS_PER_YEAR if cadence == Cadence.LEDGER else periods_per_year(cadence)
        values = n_units * per_year
        total += values
        if state == "new":
            added += values
            seconds += (
                values * fieldtypes.get(type_code if type_code in fieldtypes.REGISTRY else "text").seconds_per_value
            )
    if request.level is None:
        return Burden(units, total, added, math.ceil(seconds / 60), unit_values_out_per_year=total)
    areas = Area.objects.filter(path__startswith=request.scope.path, level=request.level).count()
    # one figure per area, period and field or indicator read at the level
    cadences = [f.sheet.cadence for f in request.fields.select_related("sheet") if f.sheet.cadence != Cadence.LEDGER]
    cadences += [i.period_type for i in request.indicators.all() if i.period_type]
    per_year = sum(periods_per_year(c) for c in cadences)
    return Burden(
        units, total, added, math.ceil(seconds / 60), aggregate_level=request.level, figures_per_year=areas * per_year
    )


def _units_by_level(request: DataRequest) -> dict[str, int]:
    rows = Unit.objects.filter(area__path__startswith=request.scope.path).values("area__level").annotate(n=Count("id"))
    return {row["area__level"]: row["n"] for row in rows}


def _already_asked(existing: Field, request: DataRequest) -> bool:
    """Whether an active subscription already asks this field of the whole requested scope."""
    return Subscription.objects.active().covering(request.scope).filter(fields=existing).exists()


REASON_LABELS = {
    "same_code": ("编码相同", "same code"),
    "same_name": ("名称相同", "same name"),
    "similar_name": ("名称相近", "similar name"),
    "same_unit_and_type": ("计量单位和类型相同", "same unit and type"),
}


def labels(match: Match) -> list[str]:
    """Why a field matches, in the active language; a similar name says how alike, as a percentage."""
    english = (get_language() or "").startswith("en")
    said = []
    for reason in match.reasons:
        zh, en = REASON_LABELS[reason]
        if reason == "similar_name":
            percent = round(match.similarity * 100)
            zh, en = f"{zh}（相似度 {percent}%）", f"{en} ({percent}% alike)"
        said.append(en if english else zh)
    return said
