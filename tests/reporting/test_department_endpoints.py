"""A department's own webhook endpoints: added and rotated on its page and through the API, each secret shown once;
tried from the side of everyone who must not get through."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.models import AuditEvent
from core.tokens import department_system_user
from reporting.models import AllowedNetwork, Endpoint
from reporting.services import deliveries
from tests.reporting.helpers import one_language_each, text_of, token_client

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{20,}")


@pytest.fixture
def allowed(demo):
    AllowedNetwork.objects.create(cidr="127.0.0.1/32", note="departments' receivers")


def _endpoint(department) -> Endpoint:
    return deliveries.create_endpoint(
        endpoint=Endpoint(department=department, name="数据中台", url="http://127.0.0.1:9/"), by=None
    )


def _secrets(response) -> list[str]:
    return SECRET.findall(response.content.decode())


def test_an_analyst_adds_an_endpoint_from_the_department_home_and_sees_its_secret_once(
    client, allowed, propaganda_analyst
):
    client.force_login(propaganda_analyst)
    assert "/department/endpoints/" in client.get("/department/").content.decode()
    posted = client.post("/department/endpoints/", {"name": "宣传部数据中台", "url": "http://127.0.0.1:8443/hooks"})
    endpoint = Endpoint.objects.get(department=propaganda_analyst.department)
    # post, redirect, get: the secret is on the page the POST sends the browser to, never in the POST's answer
    secret_page = f"/department/endpoints/{endpoint.pk}/secret/"
    assert (posted.status_code, posted["Location"]) == (302, secret_page) and _secrets(posted) == []
    added = client.get(secret_page)
    assert added.status_code == 200 and added["Cache-Control"] == "no-store"
    assert _secrets(added) == [endpoint.secret]
    # reloading it shows it no more, and adds nothing
    again = client.get(secret_page)
    assert _secrets(again) == [] and "不再显示" in again.content.decode()
    assert Endpoint.objects.filter(department=propaganda_analyst.department).count() == 1
    assert "webhook-signature" in added.content.decode() and "standardwebhooks.com" in added.content.decode()
    [event] = AuditEvent.objects.filter(action="endpoint.created")
    assert event.actor_id == propaganda_analyst.pk and endpoint.secret not in str(event.detail)
    # never again: the list shows which secret it is (its last four characters), not the secret
    listed = client.get("/department/endpoints/")
    text = text_of(listed.content.decode())
    assert _secrets(listed) == [] and f"whsec_…{endpoint.secret[-4:]}" in text
    assert "宣传部数据中台" in text and "http://127.0.0.1:8443/hooks" in text


@pytest.mark.parametrize(
    "form, zh, en",
    [
        (
            {"name": "中台", "url": "http://10.9.8.7/hooks"},
            "接收地址：不能使用此地址：地址 10.9.8.7 不在数据办允许的网络内",
            "URL: cannot be used: address 10.9.8.7 is not in a network the office allowed",
        ),
        ({"name": "中台", "url": "ftp://127.0.0.1/x"}, "接收地址：不能使用此地址：地址须为 http(s) URL", "URL: cannot"),
        ({"name": "  ", "url": "http://127.0.0.1/x"}, "名称：必填", "Name: is required"),
    ],
)
def test_a_refused_endpoint_is_named_in_both_languages_and_nothing_is_stored(
    client, allowed, propaganda_analyst, form, zh, en
):
    client.force_login(propaganda_analyst)
    refused = client.post("/department/endpoints/", form)
    text = text_of(refused.content.decode())
    assert refused.status_code == 400 and zh in text and en in text
    assert form["url"] in refused.content.decode()  # what was typed is kept on the page
    assert not Endpoint.objects.exists() and not AuditEvent.objects.filter(action="endpoint.created").exists()


def test_rotating_shows_the_new_secret_once_and_until_when_the_old_one_signs(client, allowed, propaganda_analyst):
    endpoint = _endpoint(propaganda_analyst.department)
    old = endpoint.secret
    client.force_login(propaganda_analyst)
    rotated = client.post(f"/department/endpoints/{endpoint.pk}/rotate/", follow=True)
    stored = Endpoint.objects.get(pk=endpoint.pk)
    assert rotated.status_code == 200 and _secrets(rotated) == [stored.secret] and stored.secret != old
    assert rotated.redirect_chain == [(f"/department/endpoints/{endpoint.pk}/secret/", 302)]
    until = stored.previous_secret_expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
    assert until in text_of(rotated.content.decode())
    assert deliveries.signing_secrets(stored) == [stored.secret, old]
    [event] = AuditEvent.objects.filter(action="endpoint.secret_rotated")
    assert event.actor_id == propaganda_analyst.pk and not {old, stored.secret} & set(map(str, event.detail.values()))
    listed = client.get("/department/endpoints/")
    assert _secrets(listed) == [] and until in text_of(listed.content.decode())


def test_another_department_cannot_rotate_it(client, allowed, propaganda_analyst, culture_analyst):
    endpoint = _endpoint(propaganda_analyst.department)
    client.force_login(culture_analyst)
    assert client.post(f"/department/endpoints/{endpoint.pk}/rotate/").status_code == 404
    assert client.get(f"/department/endpoints/{endpoint.pk}/secret/").status_code == 404
    assert "数据中台" not in client.get("/department/endpoints/").content.decode()
    assert Endpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret
    assert not AuditEvent.objects.filter(action="endpoint.secret_rotated").exists()


@pytest.mark.parametrize("persona", ["village_cadre", "office_admin"])
def test_a_cadre_and_the_office_get_404_on_the_department_pages(client, allowed, propaganda_analyst, persona, request):
    endpoint = _endpoint(propaganda_analyst.department)
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/department/endpoints/").status_code == 404
    assert client.post("/department/endpoints/", {"name": "x", "url": "http://127.0.0.1/x"}).status_code == 404
    assert client.post(f"/department/endpoints/{endpoint.pk}/rotate/").status_code == 404
    assert Endpoint.objects.count() == 1 and Endpoint.objects.get().secret == endpoint.secret


def test_anonymous_is_sent_to_sign_in_and_nothing_changes(allowed, propaganda_analyst):
    endpoint = _endpoint(propaganda_analyst.department)
    anonymous = Client()
    for response in (
        anonymous.post("/department/endpoints/", {"name": "x", "url": "http://127.0.0.1/x"}),
        anonymous.post(f"/department/endpoints/{endpoint.pk}/rotate/"),
    ):
        assert response.status_code == 302 and "/login" in response["Location"]
    for response in (
        APIClient().post("/api/v1/endpoints", {"name": "x", "url": "http://127.0.0.1/x"}, format="json"),
        APIClient().post(f"/api/v1/endpoints/{endpoint.pk}/rotate", format="json"),
    ):
        assert response.status_code == 401
    assert Endpoint.objects.count() == 1 and Endpoint.objects.get().secret == endpoint.secret


def test_a_department_system_adds_an_endpoint_and_rotates_it_through_the_api(allowed, propaganda_analyst):
    system = department_system_user(department=propaganda_analyst.department)
    api = token_client(system)
    added = api.post("/api/v1/endpoints", {"name": "中台", "url": "http://127.0.0.1:8443/hooks"}, format="json")
    endpoint = Endpoint.objects.get()
    assert added.status_code == 201 and added["Cache-Control"] == "no-store"
    assert added.json() == {
        "id": endpoint.pk,
        "name": "中台",
        "url": "http://127.0.0.1:8443/hooks",
        "active": True,
        "secret": endpoint.secret,
        "previous_secret_valid_until": None,
    }
    rotated = api.post(f"/api/v1/endpoints/{endpoint.pk}/rotate", format="json").json()
    endpoint.refresh_from_db()
    assert rotated["secret"] == endpoint.secret != added.json()["secret"]
    assert rotated["previous_secret_valid_until"] == endpoint.previous_secret_expires_at.isoformat()
    assert [e.actor_id for e in AuditEvent.objects.filter(action__startswith="endpoint.")] == [system.pk, system.pk]
    # the status read never carries a secret
    assert not SECRET.findall(api.get("/api/v1/deliveries").content.decode())


def test_the_api_refuses_an_address_outside_the_allowed_networks_by_its_field(allowed, propaganda_analyst):
    api = token_client(department_system_user(department=propaganda_analyst.department))
    refused = api.post("/api/v1/endpoints", {"name": "中台", "url": "http://10.9.8.7/"}, format="json")
    assert refused.status_code == 400 and [e["field"] for e in refused.json()["errors"]] == ["url"]
    zh, en = one_language_each(refused.json())
    assert "10.9.8.7" in zh and "not in a network the office allowed" in en
    missing = api.post("/api/v1/endpoints", {"url": "http://127.0.0.1/"}, format="json")
    assert missing.status_code == 400 and [e["field"] for e in missing.json()["errors"]] == ["name"]
    assert not Endpoint.objects.exists()


def test_a_unit_token_and_another_departments_token_get_404(
    allowed, propaganda_analyst, culture_analyst, village_cadre
):
    endpoint = _endpoint(propaganda_analyst.department)
    cadre = token_client(village_cadre)
    culture = token_client(department_system_user(department=culture_analyst.department))
    body = {"name": "x", "url": "http://127.0.0.1/x"}
    assert cadre.post("/api/v1/endpoints", body, format="json").status_code == 404
    for client in (cadre, culture):
        assert client.post(f"/api/v1/endpoints/{endpoint.pk}/rotate", format="json").status_code == 404
    assert Endpoint.objects.count() == 1 and Endpoint.objects.get().secret == endpoint.secret


def test_the_admin_shows_only_the_last_four_characters_of_the_secret(client, allowed, propaganda_analyst):
    from core.models import User

    endpoint = _endpoint(propaganda_analyst.department)
    superuser = User.objects.create_superuser("root", password="x")
    client.force_login(superuser)
    page = client.get(f"/admin/reporting/endpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in page and f"whsec_…{endpoint.secret[-4:]}" in page
