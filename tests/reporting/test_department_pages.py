import pytest

from reporting.models import Delivery, DeliveryStatus, Endpoint, Subscription
from tests.deliveries.conftest import file_activity


@pytest.fixture
def dead_delivery(village_cadre) -> Delivery:
    endpoint = Endpoint.objects.create(
        department_id=Subscription.objects.filter(department__code="propaganda").values_list(
            "department_id", flat=True
        )[0],
        name="sys",
        url="http://127.0.0.1:9/",
        secret="whsec_AAAA",
    )
    Subscription.objects.filter(department__code="propaganda").update(endpoint=endpoint)
    file_activity(village_cadre)
    delivery = Delivery.objects.get(department__code="propaganda")
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DEAD, last_error="HTTP 400: bad")
    return delivery


def test_the_department_page_shows_subscriptions_endpoints_and_dead_letters(client, propaganda_analyst, dead_delivery):
    client.force_login(propaganda_analyst)
    html = client.get("/department/").content.decode()
    assert "新时代文明实践与宣传文化工作统计" in html
    assert dead_delivery.public_id in html and "HTTP 400: bad" in html
    assert "最近送达" in html and "最新数据提供时间" in html  # no count of delivered rows: it only grows


def test_an_analyst_replays_a_dead_letter_of_their_own_department(client, propaganda_analyst, dead_delivery):
    client.force_login(propaganda_analyst)
    assert client.post("/department/replay/", {"delivery": dead_delivery.pk}).status_code == 302
    assert Delivery.objects.get(pk=dead_delivery.pk).status == DeliveryStatus.PENDING


def test_another_department_can_neither_see_nor_replay_nor_pause_it(client, culture_analyst, dead_delivery):
    client.force_login(culture_analyst)
    assert dead_delivery.public_id not in client.get("/department/").content.decode()
    client.post("/department/replay/", {"delivery": dead_delivery.pk})
    assert Delivery.objects.get(pk=dead_delivery.pk).status == DeliveryStatus.DEAD
    response = client.post(f"/department/endpoints/{dead_delivery.endpoint_id}/active/", {"active": "0"})
    assert response.status_code == 404 and Endpoint.objects.get(pk=dead_delivery.endpoint_id).active


def test_cadres_and_the_office_get_404_on_department_pages(client, village_cadre, office_admin, dead_delivery):
    for user in (village_cadre, office_admin):
        client.force_login(user)
        assert client.get("/department/").status_code == 404
        assert client.post("/department/replay/", {"delivery": dead_delivery.pk}).status_code == 404
    assert Delivery.objects.get(pk=dead_delivery.pk).status == DeliveryStatus.DEAD


def test_a_replay_through_the_api_names_each_id_it_cannot_read_and_replays_nothing(propaganda_analyst, dead_delivery):
    from rest_framework.test import APIClient

    from core.tokens import department_system_user, issue_token

    api = APIClient()
    _row, token = issue_token(user=department_system_user(department=propaganda_analyst.department), name="t")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = "/api/v1/deliveries/replay"
    for body, fields in [
        ({"ids": []}, ["ids"]),  # not "all": an empty list is a mistake, not a wish
        ({"ids": "dlv_1"}, ["ids"]),
        ({"ids": [dead_delivery.public_id, 7.5, "dlv_x", {}]}, ["ids[1]", "ids[2]", "ids[3]"]),
    ]:
        response = api.post(url, body, format="json")
        assert response.status_code == 400, body
        assert [e["field"] for e in response.json()["errors"]] == fields
    assert Delivery.objects.get(pk=dead_delivery.pk).status == DeliveryStatus.DEAD
    assert api.post(url, {"ids": [dead_delivery.pk]}, format="json").json() == {"replayed": 1}  # a bare number too
    assert Delivery.objects.get(pk=dead_delivery.pk).status == DeliveryStatus.PENDING


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"idz": ["dlv_1"]}, ["idz"]),
        ({"all": "true"}, ["all"]),
        ({"all": True}, ["all"]),
        ({"ids": ["dlv_1"], "al": 1, "x": None}, ["al", "x"]),
    ],
)
def test_a_replay_with_a_key_it_does_not_take_names_the_key_and_replays_nothing(
    propaganda_analyst, dead_delivery, body, fields
):
    from rest_framework.test import APIClient

    from core.tokens import department_system_user, issue_token

    api = APIClient()
    _row, token = issue_token(user=department_system_user(department=propaganda_analyst.department), name="t")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.post("/api/v1/deliveries/replay", body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == fields
    assert all(e["code"] == "body.unknown_key" for e in errors)
    assert f"“{fields[0]}”" in errors[0]["message_zh"] and "ids" in errors[0]["message_en"]
    assert Delivery.objects.get(pk=dead_delivery.pk).status == DeliveryStatus.DEAD
    paused = api.post(
        f"/api/v1/endpoints/{dead_delivery.endpoint_id}/active", {"active": False, "active2": 1}, format="json"
    )
    assert [e["field"] for e in paused.json()["errors"]] == ["active2"]
    assert Endpoint.objects.get(pk=dead_delivery.endpoint_id).active


@pytest.mark.parametrize("port", ["99999", "0"])
def test_the_endpoint_admin_refuses_a_port_out_of_range_by_name(client, demo, port):
    from core.models import Department, User
    from reporting.models import AllowedNetwork

    AllowedNetwork.objects.get_or_create(cidr="127.0.0.0/8")
    client.force_login(User.objects.create_superuser("root", password="not-a-demo-password"))
    department = Department.objects.get(code="propaganda")
    url = f"http://127.0.0.1:{port}/hook"
    response = client.post(
        "/admin/reporting/endpoint/add/", {"department": department.pk, "name": "sys", "url": url, "active": "on"}
    )
    assert response.status_code == 200  # the form again, not a 500 nor a redirect to the list
    assert "端口须为 1 至 65535 的整数" in response.content.decode()
    assert not Endpoint.objects.filter(url=url).exists()


def test_a_replay_form_naming_no_delivery_is_refused_by_name_and_replays_nothing(
    client, propaganda_analyst, dead_delivery
):
    client.force_login(propaganda_analyst)
    page = client.post("/department/replay/", {"delivery": ""}, follow=True).content.decode()
    assert "投递：必填" in page and "Delivery: is required" in page
    assert Delivery.objects.get(pk=dead_delivery.pk).status == DeliveryStatus.DEAD


@pytest.mark.parametrize(
    ("language", "one", "two"),
    [
        ("en", "1 delivery will be sent again.", "2 deliveries will be sent again."),
        ("zh-hans", "1 条分发将重新发送。", "2 条分发将重新发送。"),
    ],
)
def test_the_replay_message_counts_in_each_language(
    client, propaganda_analyst, village_cadre, dead_delivery, language, one, two
):
    client.force_login(propaganda_analyst)
    client.cookies["django_language"] = language
    assert one in client.post("/department/replay/", {"delivery": dead_delivery.pk}, follow=True).content.decode()
    file_activity(village_cadre, activity_title="第二场")
    Delivery.objects.filter(department__code="propaganda").update(status=DeliveryStatus.DEAD)
    assert two in client.post("/department/replay/", follow=True).content.decode()


def test_a_token_form_revoking_nothing_is_refused_by_name_and_issues_nothing(client, propaganda_analyst):
    from core.models import ApiToken

    client.force_login(propaganda_analyst)
    response = client.post("/department/tokens/", {"revoke": "", "name": "x", "days": "30"})
    assert response.status_code == 400
    assert (
        "吊销的令牌：必填" in response.content.decode() and "Token to revoke: is required" in response.content.decode()
    )
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(("days", "valid_for"), [("１０", 10), (" ", 365), ("", 365), (" 30 ", 30)])
def test_a_token_is_valid_for_the_days_typed_in_full_width_digits_or_a_year_when_left_blank(
    client, propaganda_analyst, days, valid_for
):
    from core.models import ApiToken

    client.force_login(propaganda_analyst)
    assert client.post("/department/tokens/", {"name": "x", "days": days}).status_code == 200
    token = ApiToken.objects.get()
    assert round((token.expires_at - token.created_at).total_seconds() / 86400) == valid_for
