"""A DHIS2 client library from PyPI (dhis2.py), unchanged, against the live test server with /dhis2 as its base
URL and a OneTable token: it reads the system info, metadata and data, and posts a data value set."""

from __future__ import annotations

import pytest
from dhis2 import Api
from dhis2.exceptions import RequestException

from core.models import Department, Unit, User
from core.tokens import issue_token
from reporting.models import Field, Submission


def _api(live_server, user: User) -> Api:
    api = Api(f"{live_server.url}/dhis2", "unused", "unused", api_version=40)
    api.session.auth = None  # OneTable has no passwords for systems: its token goes in DHIS2's header
    api.session.headers["Authorization"] = f"ApiToken {issue_token(user=user, name='dhis2.py')[1]}"
    return api


def test_dhis2_py_reads_metadata_and_data_and_posts_a_data_value_set(live_server, committed_demo):
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="dibao_people").update(source=civil)
    api = _api(live_server, User.objects.get(username="civil"))
    assert api.get_info()["version"] == "2.40.0"
    assert api.version_int == 40
    elements = api.get_paged("dataElements", page_size=5, merge=True)["dataElements"]
    assert "registered_population" in {e["id"] for e in elements}
    assert "tourist_visits" not in {e["id"] for e in elements}
    units = api.get_paged("organisationUnits", page_size=50, merge=True)["organisationUnits"]
    assert len(units) == len({u["id"] for u in units}) > 150  # every page once, the county's villages in them
    county = civil.jurisdiction.code
    read = api.get(
        "dataValueSets", params={"dataSet": "village_basics", "period": "2026Q3", "orgUnit": county, "children": "true"}
    ).json()
    assert {v["dataElement"] for v in read["dataValues"]} == {
        "registered_population",
        "resident_population",
        "households",
        "elderly_over_60",
    }
    village = Unit.objects.filter(area__level="village").select_related("area").order_by("area__code").first()
    field = Field.objects.select_related("sheet").get(code="dibao_people")
    period = "202610" if field.sheet.cadence == "monthly" else "2026Q3"
    sent = {
        "dataValues": [{"dataElement": "dibao_people", "period": period, "orgUnit": village.area.code, "value": "9"}]
    }
    summary = api.post("dataValueSets", data=sent).json()
    assert summary["response"]["importCount"]["imported"] == 1
    assert Submission.objects.supplies().get(source=civil).versions.get().values == {"dibao_people": 9}


def test_dhis2_py_sees_a_wrong_token_refused(live_server, committed_demo):
    api = Api(f"{live_server.url}/dhis2", "unused", "unused")
    api.session.auth = None
    api.session.headers["Authorization"] = "ApiToken ot_not-a-token"
    with pytest.raises(RequestException) as refused:
        api.get("me")
    assert refused.value.code == 401
