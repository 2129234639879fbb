"""A reader following feed cursors misses nothing and repeats nothing while many writers commit out of order."""

import random
import threading
import time

from django.db import connection, transaction

from core.models import Department, User
from reporting.delivery.feed import read_feed
from reporting.models import Delivery
from tests.deliveries.conftest import file_activity
from tests.waiting import wait_for

WRITERS, RECORDS_EACH = 8, 12


def test_the_feed_under_concurrent_writers_misses_nothing_and_repeats_nothing(demo, worker):
    cadre = User.objects.select_related("unit__area").get(username="village")
    propaganda = Department.objects.get(code="propaganda")
    done = threading.Event()
    # the worker's relay makes each filing's deliveries after its commit: the writers hold their last record
    # until the reader has read pages of the others, so that it reads while they write however busy the server is
    read_enough = threading.Event()
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for i in range(RECORDS_EACH):
                if i == RECORDS_EACH - 1:
                    read_enough.wait(120)
                with transaction.atomic():
                    file_activity(cadre, relay=False, activity_title=f"w{seed}-{i}")
                    # hold the transaction open a while: later transactions commit before this one
                    time.sleep(rng.uniform(0, 0.08))
        except BaseException as error:  # reported to the test thread
            errors.append(error)
        finally:
            connection.close()

    read_ids: list[str] = []
    cursor = None

    def read_page() -> bool:
        nonlocal cursor
        page = read_feed(department=propaganda, after=cursor, limit=7)
        read_ids.extend(item["id"] for item in page.items)
        cursor = page.next_cursor
        return bool(page.items)

    writers = [threading.Thread(target=write, args=(seed,)) for seed in range(WRITERS)]
    for thread in writers:
        thread.start()
    threading.Thread(target=lambda: ([t.join() for t in writers], done.set()), daemon=True).start()
    pages = 0
    while not done.is_set():
        pages += read_page()
        if pages > WRITERS:
            read_enough.set()
        time.sleep(0.005)
    # drain what the relay made last
    wait_for(lambda: not read_page() and len(set(read_ids)) >= WRITERS * RECORDS_EACH, timeout=30)

    assert errors == []
    expected = {d.public_id for d in Delivery.objects.filter(department=propaganda)}
    assert len(expected) == WRITERS * RECORDS_EACH
    assert len(read_ids) == len(set(read_ids)), "a delivery was read twice"
    assert set(read_ids) == expected, f"missed {len(expected - set(read_ids))}"
    # the reader really did read pages while the writers wrote (how many depends on the machine's load)
    assert pages >= 2
