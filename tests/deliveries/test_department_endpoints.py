"""A department adds its endpoint and rotates its secret on its own page; real deliveries are signed as shown."""

from __future__ import annotations

import re

from django.test import Client

from core.models import User
from reporting.models import Endpoint, Subscription
from tests.deliveries.conftest import file_activity
from tests.waiting import wait_for

SECRET = re.compile(r'id="new-secret">(whsec_[A-Za-z0-9+/=]+)<')


def test_a_receiver_holding_the_secret_the_page_showed_verifies_deliveries_through_a_rotation(
    worker, loopback_allowed, receivers, cadre
):
    analyst = User.objects.get(username="propaganda")
    page = Client()
    page.force_login(analyst)
    receiver = receivers()
    # given an endpoint the analyst added on the department page, its secret copied from the page into the receiver
    added = page.post("/department/endpoints/", {"name": "宣传部数据中台", "url": receiver.url}, follow=True)
    assert added.status_code == 200
    [receiver.secret] = SECRET.findall(added.content.decode())
    endpoint = Endpoint.objects.get(department=analyst.department)
    Subscription.objects.filter(department=analyst.department).update(endpoint=endpoint)  # as a reviewed request
    file_activity(cadre)
    assert wait_for(lambda: len(receiver.seen) == 1)
    # when the analyst rotates the secret and the receiver still holds the old one
    rotated = page.post(f"/department/endpoints/{endpoint.pk}/rotate/", follow=True)
    [new_secret] = SECRET.findall(rotated.content.decode())
    file_activity(cadre, activity_title="第二场")
    # then the next delivery still verifies with the old secret (both signed) ...
    assert wait_for(lambda: len(receiver.seen) == 2)
    # ... and with the new one once the receiver switched
    receiver.secret = new_secret
    file_activity(cadre, activity_title="第三场")
    assert wait_for(lambda: len(receiver.seen) == 3)
    assert receiver.bad_signatures == 0
