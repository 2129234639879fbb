"""The demo county 青山县: 12 townships, 150 villages, four departments, the office, a 60-field catalogue."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.db import transaction

from core.demo_accounts import DEMO_PASSWORD
from core.models import Area, AreaLevel, Department, Office, Role, Unit, User
from reporting import demo_sources
from reporting.catalogue.periods import Period
from reporting.filing.baselines import rebuild_baselines
from reporting.filing.onetable import build_one_table
from reporting.models import Cadence, DueRule, Field, Sheet, Submission, SubmissionVersion, Subscription
from reporting.services.relay import queue_versions
from reporting.services.rules import define_rule, set_expected_range, set_plausibility

TOWNSHIPS = [  # (name, statutory 3-digit township code)
    ("城关镇", "100"),
    ("青山镇", "101"),
    ("龙泉镇", "102"),
    ("双溪镇", "103"),
    ("长岭镇", "104"),
    ("高田镇", "105"),
    ("石门乡", "200"),
    ("白沙乡", "201"),
    ("桃源乡", "202"),
    ("金竹乡", "203"),
    ("黄坪乡", "204"),
    ("梅林乡", "205"),
]
VILLAGE_NAMES = [
    "东门",
    "西门",
    "南岭",
    "北山",
    "上坪",
    "下坪",
    "中洲",
    "新田",
    "老屋",
    "石桥",
    "杨柳",
    "枫树",
    "竹园",
    "水口",
    "塘背",
    "高坑",
    "黄泥",
    "大坝",
    "小溪",
    "官田",
    "井头",
    "湖洋",
    "坳背",
    "河口",
    "马岭",
    "牛角",
    "凤凰",
    "樟树",
    "桂花",
    "茶园",
    "梨树",
    "荷塘",
    "松林",
    "柏树",
    "田心",
    "岭下",
    "桥头",
    "陂下",
    "山口",
]
COUNTY_CODE = "360799000000"


ACTIVITY_CATEGORIES = [
    {"code": "performance", "zh": "文艺演出", "en": "Performance"},
    {"code": "film", "zh": "电影放映", "en": "Film screening"},
    {"code": "reading", "zh": "读书活动", "en": "Reading"},
    {"code": "sports", "zh": "群众体育", "en": "Sports"},
    {"code": "heritage", "zh": "非遗展示", "en": "Intangible heritage"},
    {"code": "lecture", "zh": "理论宣讲", "en": "Policy lecture"},
]
VILLAGE_TYPES = [
    {"code": "suburban", "zh": "城郊融合类", "en": "Suburban"},
    {"code": "growing", "zh": "集聚提升类", "en": "Growing"},
    {"code": "heritage", "zh": "特色保护类", "en": "Heritage"},
    {"code": "relocating", "zh": "搬迁撤并类", "en": "Relocating"},
]
FESTIVALS = [
    {"code": "spring", "zh": "春节", "en": "Spring Festival"},
    {"code": "lantern", "zh": "元宵", "en": "Lantern Festival"},
    {"code": "dragon_boat", "zh": "端午", "en": "Dragon Boat"},
    {"code": "harvest", "zh": "丰收节", "en": "Harvest Festival"},
]


def _count(maximum: int = 1_000_000, **extra: object) -> dict:
    return {"min": 0, "max": maximum, **extra}


# sheet code, zh, en, topic zh, topic en, cadence, unit levels, fields:
#   (code, zh, en, type, constraints, unit of measure, stable)
# (code, name zh, name en, topic zh, topic en, cadence, levels, fields); a field is
# (code, name zh, name en, type, constraints, unit of measure, stable)
FieldRow = tuple[str, str, str, str, dict[str, Any], str, bool]
CATALOGUE: list[tuple[str, str, str, str, str, Cadence, list[AreaLevel], list[FieldRow]]] = [
    (
        "village_basics",
        "村（社区）基本情况",
        "Village basics",
        "基础信息",
        "Basics",
        Cadence.QUARTERLY,
        [AreaLevel.VILLAGE],
        [
            (
                "registered_population",
                "户籍人口",
                "Registered population",
                "integer",
                _count(required=True),
                "人",
                True,
            ),
            ("resident_population", "常住人口", "Resident population", "integer", _count(required=True), "人", True),
            ("households", "户数", "Households", "integer", _count(required=True), "户", True),
            ("elderly_over_60", "60岁以上老年人数", "People aged over 60", "integer", _count(), "人", True),
            ("village_type", "村庄类型", "Village type", "choice", {"choices": VILLAGE_TYPES}, "", True),
            (
                "culture_centre_area",
                "综合文化服务中心面积",
                "Cultural centre floor area",
                "decimal",
                {"min": 0, "max": 100000, "places": 1},
                "平方米",
                True,
            ),
            ("culture_squares", "文化广场数", "Cultural squares", "integer", _count(100), "个", True),
            ("library_books", "农家书屋藏书", "Village library books", "integer", _count(), "册", True),
            ("has_history_museum", "是否建有村史馆", "Has a village history museum", "boolean", {}, "", True),
            ("is_tourism_village", "是否乡村旅游重点村", "Key rural-tourism village", "boolean", {}, "", True),
            ("arable_land", "耕地面积", "Arable land", "decimal", {"min": 0, "max": 1000000, "places": 1}, "亩", True),
            ("volunteers", "注册志愿者人数", "Registered volunteers", "integer", _count(), "人", False),
            ("grid_workers", "网格员人数", "Grid workers", "integer", _count(500), "人", True),
        ],
    ),
    (
        "civil_affairs",
        "民政服务季报",
        "Civil affairs quarterly",
        "社会事务",
        "Social affairs",
        Cadence.QUARTERLY,
        [AreaLevel.VILLAGE],
        [
            (
                "dibao_households",
                "低保户数",
                "Minimum-income households",
                "integer",
                _count(required=True),
                "户",
                False,
            ),
            ("dibao_people", "低保人数", "Minimum-income recipients", "integer", _count(required=True), "人", False),
            ("destitute_people", "特困供养人数", "Destitute persons supported", "integer", _count(), "人", False),
            ("left_behind_children", "农村留守儿童数", "Left-behind children", "integer", _count(), "人", False),
            ("left_behind_elderly", "农村留守老年人数", "Left-behind elderly", "integer", _count(), "人", False),
            ("disabled_people", "持证残疾人数", "Registered disabled persons", "integer", _count(), "人", False),
            ("elderly_care_points", "养老服务站点数", "Elderly-care service points", "integer", _count(50), "个", True),
            ("temporary_relief", "临时救助人次", "Temporary relief cases", "integer", _count(), "人次", False),
            (
                "relief_amount",
                "临时救助金额",
                "Temporary relief paid",
                "decimal",
                {"min": 0, "max": 10000000, "places": 2},
                "元",
                False,
            ),
            ("veterans", "退役军人数", "Veterans", "integer", _count(), "人", True),
            ("mutual_aid_meals", "互助食堂就餐人次", "Mutual-aid canteen meals", "integer", _count(), "人次", False),
        ],
    ),
    (
        "township_monthly",
        "乡镇月度综合指标",
        "Township monthly indicators",
        "宣传文化",
        "Culture & publicity",
        Cadence.MONTHLY,
        [AreaLevel.TOWNSHIP],
        [
            (
                "civilisation_activities",
                "新时代文明实践活动场次",
                "Civilisation-practice activities",
                "integer",
                _count(10000, required=True),
                "场",
                False,
            ),
            (
                "volunteer_hours",
                "志愿服务时长",
                "Volunteer service hours",
                "decimal",
                {"min": 0, "max": 1000000, "places": 1},
                "小时",
                False,
            ),
            ("lectures", "理论宣讲场次", "Policy lectures", "integer", _count(10000), "场", False),
            ("bulletin_updates", "宣传栏更新次数", "Notice-board updates", "integer", _count(1000), "次", False),
            (
                "public_culture_events",
                "公共文化活动场次",
                "Public cultural events",
                "integer",
                _count(10000),
                "场",
                False,
            ),
            ("film_screenings", "农村电影放映场次", "Rural film screenings", "integer", _count(1000), "场", False),
            ("heritage_items", "非遗项目数", "Intangible-heritage items", "integer", _count(500), "项", True),
            (
                "culture_station_staff",
                "综合文化站在编人员",
                "Cultural-station staff",
                "integer",
                _count(100),
                "人",
                True,
            ),
            ("volunteer_teams", "志愿服务队伍数", "Volunteer teams", "integer", _count(500), "支", True),
            ("news_items", "上报新闻信息条数", "News items reported", "integer", _count(1000), "条", False),
            ("notes", "情况说明", "Notes", "text", {"max_length": 500}, "", False),
        ],
    ),
    (
        "tourism_monthly",
        "乡村旅游月报",
        "Rural tourism monthly",
        "文化旅游",
        "Tourism",
        Cadence.MONTHLY,
        [AreaLevel.TOWNSHIP],
        [
            (
                "tourist_visits",
                "接待游客人次",
                "Tourist visits",
                "integer",
                _count(10000000, required=True),
                "人次",
                False,
            ),
            (
                "tourism_revenue",
                "旅游收入",
                "Tourism revenue",
                "decimal",
                {"min": 0, "max": 1000000, "places": 2},
                "万元",
                False,
            ),
            ("homestays", "民宿数", "Homestays", "integer", _count(1000), "家", True),
            ("farm_stays", "农家乐数", "Farm restaurants", "integer", _count(1000), "家", True),
            ("beds", "床位数", "Beds", "integer", _count(100000), "张", True),
            ("a_level_sites", "A级景区数", "A-level scenic sites", "integer", _count(50), "个", True),
            ("festivals_held", "举办节庆活动", "Festivals held", "multi_choice", {"choices": FESTIVALS}, "", False),
            ("tourism_routes", "乡村旅游精品线路数", "Rural tourism routes", "integer", _count(100), "条", True),
            ("tourism_jobs", "旅游带动就业人数", "Jobs created by tourism", "integer", _count(), "人", False),
        ],
    ),
    (
        "township_yearly",
        "乡镇年度统计",
        "Township yearly statistics",
        "统计",
        "Statistics",
        Cadence.YEARLY,
        [AreaLevel.TOWNSHIP],
        [
            (
                "gdp",
                "地区生产总值",
                "Gross regional product",
                "decimal",
                {"min": 0, "max": 100000000, "places": 1},
                "万元",
                False,
            ),
            (
                "grain_output",
                "粮食产量",
                "Grain output",
                "decimal",
                {"min": 0, "max": 10000000, "places": 1},
                "吨",
                False,
            ),
            (
                "rural_income",
                "农村居民人均可支配收入",
                "Rural disposable income per head",
                "integer",
                _count(1000000, required=True),
                "元",
                False,
            ),
            ("enterprises", "企业法人单位数", "Legal-entity enterprises", "integer", _count(), "个", False),
            (
                "large_enterprises",
                "规模以上工业企业数",
                "Industrial firms above scale",
                "integer",
                _count(),
                "个",
                False,
            ),
            (
                "fiscal_revenue",
                "一般公共预算收入",
                "General budget revenue",
                "decimal",
                {"min": 0, "max": 10000000, "places": 1},
                "万元",
                False,
            ),
            ("migrant_workers", "外出务工人数", "Migrant workers", "integer", _count(), "人", False),
            (
                "total_area",
                "行政区域面积",
                "Administrative area",
                "decimal",
                {"min": 0, "max": 100000, "places": 2},
                "平方千米",
                True,
            ),
        ],
    ),
    (
        "cultural_activity",
        "文化活动台账",
        "Cultural activity ledger",
        "宣传文化",
        "Culture & publicity",
        Cadence.LEDGER,
        [AreaLevel.TOWNSHIP, AreaLevel.VILLAGE],
        [
            ("activity_date", "活动日期", "Date", "date", {"required": True}, "", False),
            ("activity_title", "活动名称", "Title", "text", {"required": True, "max_length": 60}, "", False),
            ("activity_venue", "活动地点", "Venue", "text", {"required": True, "max_length": 60}, "", False),
            (
                "activity_category",
                "活动类别",
                "Category",
                "choice",
                {"required": True, "choices": ACTIVITY_CATEGORIES},
                "",
                False,
            ),
            ("attendance", "参与人数", "Attendance", "integer", _count(100000, required=True), "人", False),
            ("organiser", "主办单位", "Organiser", "text", {"max_length": 60}, "", False),
            ("volunteers_involved", "参与志愿者人数", "Volunteers involved", "integer", _count(10000), "人", False),
            ("is_volunteer_service", "是否志愿服务活动", "Volunteer-service activity", "boolean", {}, "", False),
        ],
    ),
]


def demo_loaded() -> bool:
    return Office.objects.filter(code="qingshan-data-office").exists()


@transaction.atomic
def load_demo(*, sources: bool = True, checks: bool = True, deliver: bool = True) -> None:
    """Create the demo county, its bodies, users and catalogue (call once; see demo_loaded); with `sources`,
    the registers of civil affairs and statistics too (reporting/demo_sources.py); with `checks`, the office's
    rules across fields, expected ranges and plausibility setting (`CHECKS`), so a demo user meets them; with
    `deliver`, the villages' 2026Q3 filings are handed to the relay as a filing's are, so the subscribers' feeds
    and webhooks hold them (the registers' supplies always are: `supply_values` hands them over itself)."""
    county = _areas()
    office = Office.objects.create(code="qingshan-data-office", name="青山县数据办", area=county)
    departments = {
        code: Department.objects.create(code=code, name=name, jurisdiction=county)
        for code, name in [
            ("propaganda", "中共青山县委宣传部"),
            ("culture", "青山县文化广电新闻出版旅游体育局"),
            ("civil", "青山县民政局"),
            ("stats", "青山县统计局"),
        ]
    }
    _catalogue(office)
    _users(office, departments)
    _calendar()
    _subscriptions(county, departments)
    if sources:
        demo_sources.assign_sources()
    _history(sources=sources, deliver=deliver)
    if checks:
        load_checks()


def _areas() -> Area:
    province = Area.objects.create(code="360000000000", name="江西省", level=AreaLevel.PROVINCE)
    city = Area.objects.create(code="360700000000", name="赣州市", level=AreaLevel.CITY, parent=province)
    county = Area.objects.create(code=COUNTY_CODE, name="青山县", level=AreaLevel.COUNTY, parent=city)
    for t_index, (t_name, t_code) in enumerate(TOWNSHIPS):
        township = Area.objects.create(
            code=COUNTY_CODE[:6] + t_code + "000", name=t_name, level=AreaLevel.TOWNSHIP, parent=county
        )
        Unit.objects.create(name=f"{t_name}人民政府", area=township)
        per_township = 13 if t_index < 6 else 12  # 6×13 + 6×12 = 150 villages
        for v_index in range(per_township):
            v_name = VILLAGE_NAMES[(t_index * 7 + v_index) % len(VILLAGE_NAMES)] + "村"
            village = Area.objects.create(
                code=township.code[:9] + f"{201 + v_index:03d}", name=v_name, level=AreaLevel.VILLAGE, parent=township
            )
            Unit.objects.create(name=f"{t_name}{v_name}村民委员会", area=village)
    return county


def _catalogue(office: Office) -> None:
    for order, (code, zh, en, topic_zh, topic_en, cadence, levels, fields) in enumerate(CATALOGUE):
        sheet = Sheet.objects.create(
            code=code,
            name_zh=zh,
            name_en=en,
            topic_zh=topic_zh,
            topic_en=topic_en,
            cadence=cadence,
            unit_levels=list(levels),
            owner=office,
            order=order,
            record_date_field="activity_date" if cadence == Cadence.LEDGER else "",
        )
        for f_order, (f_code, f_zh, f_en, f_type, constraints, uom, stable) in enumerate(fields):
            field = Field(
                sheet=sheet,
                code=f_code,
                name_zh=f_zh,
                name_en=f_en,
                type=f_type,
                constraints=constraints,
                unit_of_measure=uom,
                stable=stable,
                order=f_order,
            )
            field.full_clean()
            field.save()


def _users(office: Office, departments: dict[str, Department]) -> None:
    village = Unit.objects.get(area__name="东门村", area__parent__name="城关镇")
    township = Unit.objects.get(area__name="城关镇")
    people: list[tuple[str, str, Role, dict[str, Any]]] = [
        ("village", "李春梅", Role.UNIT_CADRE, {"unit": village}),
        ("township", "王建国", Role.UNIT_CADRE, {"unit": township}),
        ("propaganda", "陈晓红", Role.DEPARTMENT_ANALYST, {"department": departments["propaganda"]}),
        ("culture", "刘文博", Role.DEPARTMENT_ANALYST, {"department": departments["culture"]}),
        ("civil", "张民安", Role.DEPARTMENT_ANALYST, {"department": departments["civil"]}),
        ("stats", "赵统计", Role.DEPARTMENT_ANALYST, {"department": departments["stats"]}),
        ("office", "周数据", Role.OFFICE_ADMIN, {"office": office, "is_staff": True, "is_superuser": True}),
    ]
    for username, name, role, extra in people:
        user = User(username=username, first_name=name, role=role, **extra)
        user.set_password(DEMO_PASSWORD)
        user.save()


# department → (purpose, legal basis, field codes); every other field of the catalogue is asked of nobody.
SUBSCRIPTIONS = {
    "propaganda": (
        "新时代文明实践与宣传文化工作统计",
        "《新时代公民道德建设实施纲要》",
        [
            "civilisation_activities",
            "volunteer_hours",
            "lectures",
            "bulletin_updates",
            "news_items",
            "volunteers",
            "activity_date",
            "activity_title",
            "activity_venue",
            "activity_category",
            "attendance",
            "organiser",
            "volunteers_involved",
            "is_volunteer_service",
        ],
    ),
    "culture": (
        "公共文化服务与乡村旅游监测",
        "《中华人民共和国公共文化服务保障法》",
        [
            "public_culture_events",
            "film_screenings",
            "heritage_items",
            "culture_station_staff",
            "tourist_visits",
            "tourism_revenue",
            "homestays",
            "farm_stays",
            "beds",
            "a_level_sites",
            "festivals_held",
            "tourism_routes",
            "tourism_jobs",
            "culture_centre_area",
            "culture_squares",
            "library_books",
            "has_history_museum",
            "is_tourism_village",
            "resident_population",
            "activity_date",
            "activity_title",
            "activity_venue",
            "activity_category",
            "attendance",
            "organiser",
        ],
    ),
    "civil": (
        "社会救助与养老服务管理",
        "《社会救助暂行办法》",
        [
            "dibao_households",
            "dibao_people",
            "destitute_people",
            "left_behind_children",
            "left_behind_elderly",
            "disabled_people",
            "elderly_care_points",
            "temporary_relief",
            "relief_amount",
            "veterans",
            "registered_population",
            "resident_population",
            "households",
            "elderly_over_60",
        ],
    ),
    "stats": (
        "乡镇统计年报与人口基本情况",
        "《中华人民共和国统计法》",
        [
            "gdp",
            "grain_output",
            "rural_income",
            "enterprises",
            "large_enterprises",
            "fiscal_revenue",
            "migrant_workers",
            "total_area",
            "registered_population",
            "resident_population",
            "households",
            "arable_land",
        ],
    ),
}


# The office's checks in the demo: rules across fields (an error blocks submitting, a warning asks for an
# explanation), the ranges it expects a few numbers in, and the plausibility threshold. The demo's own history
# meets every rule (tests/rules/test_demo_checks.py).
CHECKS: list[dict[str, str]] = [
    {
        "code": "households_within_population",
        "sheet": "village_basics",
        "left": "households",
        "operator": "<=",
        "right": "registered_population",
        "strategy": "SKIP_IF_ANY_VALUE_MISSING",
        "importance": "error",
        "message_zh": "户数不能多于户籍人口",
        "message_en": "households cannot outnumber the registered population",
    },
    {
        "code": "elderly_within_population",
        "sheet": "village_basics",
        "left": "elderly_over_60",
        "operator": "<=",
        "right": "registered_population",
        "strategy": "SKIP_IF_ANY_VALUE_MISSING",
        "importance": "error",
        "message_zh": "60岁以上老年人数不能多于户籍人口",
        "message_en": "people aged over 60 cannot outnumber the registered population",
    },
    {
        "code": "resident_near_registered",
        "sheet": "village_basics",
        "left": "resident_population",
        "operator": "<=",
        "right": "registered_population * 1.5",
        "strategy": "SKIP_IF_ANY_VALUE_MISSING",
        "importance": "warning",
        "message_zh": "常住人口比户籍人口多出一半以上，请说明原因（如外来务工人员集中）",
        "message_en": "the resident population exceeds the registered population by more than half: please say why "
        "(for example, many workers from elsewhere)",
    },
    {
        "code": "dibao_people_per_household",
        "sheet": "civil_affairs",
        "left": "dibao_people",
        "operator": ">=",
        "right": "dibao_households",
        "strategy": "SKIP_IF_ANY_VALUE_MISSING",
        "importance": "error",
        "message_zh": "低保人数不能少于低保户数",
        "message_en": "minimum-income recipients cannot be fewer than minimum-income households",
    },
]
EXPECTED_RANGES = {"volunteers": (0, 500), "culture_squares": (0, 10), "grid_workers": (1, 30)}


def load_checks() -> None:
    """The office's checks of the demo (`CHECKS`, `EXPECTED_RANGES`, the plausibility threshold), made by the office
    user through the services an office uses."""
    office = User.objects.select_related("office").get(username="office")
    assert office.office is not None  # the demo's office admin (`_users`)
    for definition in CHECKS:
        define_rule(office=office.office, definition=definition, by=office)
    for code, (low, high) in EXPECTED_RANGES.items():
        set_expected_range(field=Field.objects.get(code=code), low=low, high=high, by=office)
    set_plausibility(threshold="3.5", enabled=True, by=office)


def _calendar() -> None:
    # The office's one calendar: the 5th of the next month, the 10th after a quarter, 31 January.
    for cadence, days in ((Cadence.MONTHLY, 5), (Cadence.QUARTERLY, 10), (Cadence.YEARLY, 31)):
        DueRule.objects.create(cadence=cadence, days_after_period_end=days)


def _subscriptions(county: Area, departments: dict[str, Department]) -> None:
    fields = {f.code: f for f in Field.objects.all()}
    for code, (purpose, basis, field_codes) in SUBSCRIPTIONS.items():
        subscription = Subscription.objects.create(
            department=departments[code],
            scope=county,
            purpose=purpose,
            legal_basis=basis,
            starts_on=dt.date(2025, 1, 1),
        )
        subscription.fields.set([fields[c] for c in field_codes])


def _history(*, sources: bool, deliver: bool) -> None:
    """Every village filed its basics for 2026Q3, so 2026Q4 opens with stable facts carried forward; with
    `sources`, the registers supplied 2026Q3 and 2026Q4 first and the filings confirmed their values; with
    `deliver`, the filings go to the relay, the one path from versions to deliveries."""
    rng = random.Random(2026)
    sheet = Sheet.objects.get(code="village_basics")
    villages = list(Unit.objects.filter(area__level=AreaLevel.VILLAGE).select_related("area"))
    cadres = {u.unit_id: u for u in User.objects.filter(role=Role.UNIT_CADRE)}
    missing = [
        User(username=f"cadre-{v.area.code}", first_name="村干部", role=Role.UNIT_CADRE, unit=v)
        for v in villages
        if v.pk not in cadres
    ]
    for user in missing:
        user.set_unusable_password()
    for user in User.objects.bulk_create(missing):
        cadres[user.unit_id] = user
    # every village is asked the same fields by the same departments: count them once
    table = build_one_table(unit=villages[0], sheet=sheet, period=Period.parse("2026Q3"), carry=False)
    departments = {d for entry in table.fields for d in entry.department_ids}
    spared = sum(len(entry.department_ids) - 1 for entry in table.fields)
    submissions = Submission.objects.bulk_create(
        [Submission(unit=v, sheet=sheet, period="2026Q3", period_start=dt.date(2026, 7, 1)) for v in villages]
    )
    filed = {}
    for submission in submissions:
        people = rng.randint(600, 4200)
        filed[submission.unit_id] = {
            "registered_population": people,
            "resident_population": int(people * rng.uniform(0.55, 0.9)),
            "households": people // rng.randint(3, 4),
            "elderly_over_60": int(people * rng.uniform(0.16, 0.3)),
            "culture_centre_area": f"{rng.randint(120, 600)}.0",
            "culture_squares": rng.randint(1, 3),
            "library_books": rng.randint(1500, 6000),
            "has_history_museum": rng.random() < 0.3,
            "is_tourism_village": rng.random() < 0.2,
            "arable_land": f"{rng.randint(800, 5000)}.0",
            "volunteers": rng.randint(20, 160),
        }
    registers: dict[str, dict[int, dict[str, int]]] = {}
    if sources:
        villages.sort(key=lambda v: v.area.code)
        registers = demo_sources.registers(villages, filed)
        demo_sources.supply(villages, registers)
    disputing = villages[-1].pk  # the county's last village disputes one value (not the demo cadre's)
    versions = []
    for submission in submissions:
        values = filed[submission.unit_id]
        answered: dict[str, Any] = {"typed_count": len(values)}
        if sources:
            register = registers[demo_sources.HISTORY_PERIOD][submission.unit_id]
            answered = demo_sources.answers(submission.unit, values, register, submission.unit_id == disputing)
        versions.append(
            SubmissionVersion(
                submission=submission,
                number=1,
                period_start=submission.period_start,
                values=values,
                by=cadres[submission.unit_id],
                asked_count=len(table.fields),
                department_count=len(departments),
                refills_spared=spared,
                **answered,
            )
        )
    SubmissionVersion.objects.bulk_create(versions)
    if deliver:
        # one relay marker per filing, with the snapshot the filings' table was read in, as `submit_sheet` writes:
        # the relay makes each subscriber's delivery after commit, after the registers' supplies made above
        queue_versions([v.pk for v in versions], snapshot=table.snapshot)
    # stored without the filing services: their baselines are made from them
    rebuild_baselines(unit_ids=[s.unit_id for s in submissions], sheet_id=sheet.pk)
    if sources:
        demo_sources.answered_dispute(next(v for v in versions if v.submission.unit_id == disputing))
