"""A subscribing department receives the register's values and the unit's answers to them, each value saying
where it came from; nothing outside its subscription, and the source department nothing by being the source."""

from __future__ import annotations

import datetime as dt
import itertools
import json

from django.db import connection

from core.models import Department, Unit, User
from reporting.filing.origins import origin_sql, origins
from reporting.models import AccessRecord, Delivery, Field, Sheet, Submission, SubmissionVersion, Subscription
from reporting.services.deliveries import delivery_bodies
from reporting.services.relay import relay_versions
from reporting.services.submissions import correct_submission
from reporting.services.supplies import SupplyRow, supply_values
from tests.reporting.helpers import assert_documented, file_village_basics, token_client

TODAY = dt.date(2026, 11, 29)
PERIOD = "2026Q4"


def _stats_is_the_source_of_the_population() -> tuple[Department, User]:
    """The statistics bureau supplies the registered population (civil affairs subscribes to it in the demo);
    the bureau itself no longer takes the field through a subscription."""
    stats = Department.objects.get(code="stats")
    Field.objects.filter(code="registered_population").update(source=stats)
    for subscription in Subscription.objects.filter(department=stats):
        subscription.fields.remove(Field.objects.get(code="registered_population"))
    return stats, User.objects.get(username="stats")


def _supply(stats: Department, by: User, unit: Unit, value: object):
    result = supply_values(
        department=stats,
        rows=[SupplyRow("1", unit.area.code, PERIOD, "registered_population", value)],
        by=by,
        today=TODAY,
    )
    assert not result.conflicts, result.conflicts
    return result


def _answer(
    version: SubmissionVersion, *, register: object, confirm: bool, unit_value: object = None, **changes: object
):
    """The unit's next filing answers the register value: a correction through the filing service, confirming
    it (left blank) or disputing it with the unit's own value and a reason; `changes` to other fields on top."""
    raw = {**version.values, **changes, "registered_population": "" if confirm else unit_value}
    return correct_submission(
        submission=version.submission,
        raw=raw,
        not_applicable=version.not_applicable,
        reason="答复部门数据",
        by=version.by,
        expected_version=version.number,
        disputes={} if confirm else {"registered_population": "去年新迁入两户"},
    )


def _received(department_code: str, unit: Unit) -> list[dict]:
    """What the department was given of the unit's data: each delivery's body, as its webhook batch and its feed
    carry it (one statement builds both); the relay makes them first, as a worker does after commit."""
    relay_versions()
    ids = list(
        Delivery.objects.filter(department__code=department_code, submission__unit=unit)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return [json.loads(body) for body in delivery_bodies(ids)] if ids else []


def test_a_subscriber_receives_the_register_values_and_the_units_answers_each_with_its_origin(demo, village_cadre):
    stats, stats_user = _stats_is_the_source_of_the_population()
    unit = village_cadre.unit
    _supply(stats, stats_user, unit, 2150)

    (supplied,) = _received("civil", unit)
    assert supplied["source"] == "stats"
    assert supplied["values"] == {"registered_population": 2150}
    assert supplied["origin"] == {"registered_population": "register"}
    assert supplied["disputed"] == {}

    filed = file_village_basics(village_cadre, period=PERIOD, registered_population="")  # confirms the register
    confirmed = _answer(filed, register=2150, confirm=True, households=612)  # a correction changes something
    disputed = _answer(confirmed, register=2150, confirm=False, unit_value=2160)
    items = {i["version"]: i for i in _received("civil", unit) if i["source"] is None}
    assert items[2]["values"]["registered_population"] == 2150
    assert items[2]["origin"]["registered_population"] == "confirmed"
    assert items[2]["origin"]["households"] == "typed"
    assert items[3]["values"]["registered_population"] == 2160
    assert items[3]["origin"]["registered_population"] == "disputed"
    assert items[3]["disputed"] == {"registered_population": {"reason": "去年新迁入两户", "register": 2150}}
    for item in items.values():  # as the OpenAPI schema documents a delivery, its disputes included
        assert_documented(item, "DeliveryOut")
    # the origins name exactly the delivered values: civil affairs takes none of the culture fields
    assert set(items[3]["origin"]) == set(items[3]["values"])
    assert "library_books" not in items[3]["origin"]
    assert disputed.number == 3


def test_the_source_department_receives_nothing_by_being_the_source(demo, village_cadre):
    stats, stats_user = _stats_is_the_source_of_the_population()
    _supply(stats, stats_user, village_cadre.unit, 2150)
    supply = Submission.objects.supplies().get(unit=village_cadre.unit)
    assert not Delivery.objects.filter(submission=supply, department=stats).exists()
    assert _received("stats", village_cadre.unit) == []


def test_nothing_outside_the_subscription_is_delivered(demo, village_cadre):
    stats, stats_user = _stats_is_the_source_of_the_population()
    civil = Department.objects.get(code="civil")
    # civil affairs' subscription to the population covers one township only, and a later one ended already
    other = Unit.objects.filter(area__level="village").exclude(area__parent=village_cadre.unit.area.parent).first()
    for subscription in Subscription.objects.filter(department=civil, fields__code="registered_population"):
        subscription.scope = village_cadre.unit.area.parent
        subscription.save(update_fields=["scope"])
    _supply(stats, stats_user, other, 990)
    assert not Delivery.objects.filter(department=civil, submission__unit=other).exists()
    Subscription.objects.filter(department=civil).update(expires_on=dt.date(2026, 1, 1))
    _supply(stats, stats_user, village_cadre.unit, 2150)
    assert not Delivery.objects.filter(department=civil, submission__source=stats).exists()
    assert not AccessRecord.objects.filter(unit=village_cadre.unit, department=civil).exists()


def test_the_sql_origin_agrees_with_the_python_one(demo, village_cadre):
    version = file_village_basics(village_cadre, period=PERIOD)
    codes = ["a", "b", "c", "d"]
    for source_id, confirmed, disputed, carried in itertools.product(
        (None, 1), (["a"], ["a", "b"], []), ({"b": {"reason": "x", "register": 1}}, {}), (["a", "c"], [])
    ):
        expected = origins(
            source_id=source_id, values=dict.fromkeys(codes, 1), carried=carried, confirmed=confirmed, disputed=disputed
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT jsonb_object_agg(f, "
                + origin_sql(code="f", source="%(source)s::bigint", version="v")
                + ") FROM (SELECT %(carried)s::varchar[] AS carried, %(confirmed)s::varchar[] AS confirmed,"
                " %(disputed)s::jsonb AS disputed) v, unnest(%(codes)s::text[]) f",
                {
                    "source": source_id,
                    "carried": carried,
                    "confirmed": confirmed,
                    "disputed": json.dumps(disputed),
                    "codes": codes,
                },
            )
            (found,) = cursor.fetchone()
        assert json.loads(found) == expected, (source_id, confirmed, disputed, carried)
    assert version.number == 1
    assert Sheet.objects.filter(code="village_basics").exists()


def _village_in_another_township(cadre: User) -> Unit:
    return (
        Unit.objects.filter(area__level="village")
        .exclude(area__parent=cadre.unit.area.parent)
        .select_related("area")
        .order_by("area__code")
        .first()
    )


def _data(user: User, **params) -> dict[str, dict]:
    answer = token_client(user).get(
        "/api/v1/data", {"sheet": "village_basics", "period_from": PERIOD, "period_to": PERIOD, **params}
    )
    assert answer.status_code == 200, answer.content
    listed = answer.json()["rows"]
    codes = [r["unit"]["code"] for r in listed]
    assert len(codes) == len(set(codes)), "a unit and period read twice"  # one current value, one row
    return {r["unit"]["code"]: r for r in listed}


def test_reads_show_one_current_value_per_unit_and_period_with_its_origin(demo, village_cadre):
    stats, stats_user = _stats_is_the_source_of_the_population()
    civil = User.objects.get(username="civil")
    unit, only_register = village_cadre.unit, _village_in_another_township(village_cadre)
    filed = file_village_basics(village_cadre, period=PERIOD)  # the unit typed 2100 before the register had it
    _supply(stats, stats_user, unit, 2150)
    _supply(stats, stats_user, only_register, 870)
    rows = _data(civil)
    mine = rows[unit.area.code]
    assert mine["values"]["registered_population"] == 2150  # the register's value is the current one
    assert mine["origin"]["registered_population"] == "register"  # not answered by the unit yet
    assert mine["origin"]["households"] == "typed" and mine["values"]["households"] == 610
    assert mine["version"] == 1
    assert rows[only_register.area.code]["values"] == {"registered_population": 870}
    assert rows[only_register.area.code]["version"] is None

    _answer(filed, register=2150, confirm=False, unit_value=2160)
    mine = _data(civil)[unit.area.code]
    assert mine["values"]["registered_population"] == 2150
    assert mine["origin"]["registered_population"] == "disputed"
    assert mine["disputed"] == {"registered_population": {"reason": "去年新迁入两户", "register": 2150, "unit": 2160}}

    _supply(stats, stats_user, unit, 2160)  # the source corrects its register: the dispute no longer applies
    mine = _data(civil)[unit.area.code]
    assert mine["values"]["registered_population"] == 2160
    assert mine["origin"]["registered_population"] == "register" and mine["disputed"] == {}

    # the culture bureau reads the same sheet but not the population: no register row, no register value
    culture = User.objects.get(username="culture")
    theirs = _data(culture)
    assert only_register.area.code not in theirs
    assert "registered_population" not in theirs[unit.area.code]["values"]
    assert "registered_population" not in theirs[unit.area.code]["origin"]

    # every read wrote an access record for the unit whose register value was read
    assert AccessRecord.objects.filter(unit=only_register, department__code="civil", kind="queried").exists()
    assert not AccessRecord.objects.filter(unit=only_register, department__code="culture").exists()


def test_the_csv_says_where_a_sourced_value_came_from_and_a_unit_outside_the_scope_is_never_read(demo, village_cadre):
    stats, stats_user = _stats_is_the_source_of_the_population()
    civil = User.objects.get(username="civil")
    outside = _village_in_another_township(village_cadre)
    for subscription in Subscription.objects.filter(department__code="civil", fields__code="registered_population"):
        subscription.scope = village_cadre.unit.area.parent
        subscription.save(update_fields=["scope"])
    _supply(stats, stats_user, village_cadre.unit, 2150)
    _supply(stats, stats_user, outside, 870)
    file_village_basics(village_cadre, period=PERIOD, registered_population="")  # confirms the register
    answer = token_client(civil).get(
        "/api/v1/data", {"sheet": "village_basics", "period_from": PERIOD, "period_to": PERIOD, "format": "csv"}
    )
    assert answer.status_code == 200
    lines = b"".join(answer.streaming_content).decode("utf-8-sig").splitlines()
    head = lines[0].split(",")
    population = head.index(next(h for h in head if h.startswith("户籍人口 registered_population")))
    assert head[population + 1] == "户籍人口 数据来源 origin registered_population"
    assert head[population + 2] == "户籍人口 单位异议值 disputed by the unit registered_population"
    (mine,) = [line.split(",") for line in lines[1:] if line.startswith(village_cadre.unit.area.code)]
    assert mine[population : population + 3] == ["2150", "confirmed", ""]
    assert not [line for line in lines[1:] if line.startswith(outside.area.code)]
    assert not AccessRecord.objects.filter(unit=outside, department__code="civil").exists()


def test_the_chart_sums_one_current_value_per_unit(demo, village_cadre):
    from reporting.reads.data import field_totals

    stats, stats_user = _stats_is_the_source_of_the_population()
    civil = Department.objects.get(code="civil")
    population = Field.objects.get(code="registered_population")
    before = field_totals(civil, population, period=PERIOD, today=TODAY)
    earlier = dict(zip(before.periods, before.totals, strict=True)).get(PERIOD) or 0
    file_village_basics(village_cadre, period=PERIOD)  # the unit typed 2100
    _supply(stats, stats_user, village_cadre.unit, 2150)  # the register says 2150: that is the value
    _supply(stats, stats_user, _village_in_another_township(village_cadre), 870)  # a register value only
    after = field_totals(civil, population, period=PERIOD, today=TODAY)
    assert dict(zip(after.periods, after.totals, strict=True))[PERIOD] == earlier + 2150 + 870
