"""The explore page's pager keeps every filter: page 2 of a collection is still that collection."""

import uuid

import pytest
from playwright.sync_api import Page, expect

IN_COLLECTION = 30  # more than one explore page (EXPLORE_PAGE_SIZE = 24)
OUTSIDE = 30


@pytest.fixture
def curated(cogmill):
    """(slug, name, owner): a collection of IN_COLLECTION public models, and OUTSIDE newer ones not in it.

    Each model has a version marked ready (explore lists only runnable models), so nothing is built;
    the outside ones are the newest, so a page 2 that forgets the collection shows them.
    """
    suffix = uuid.uuid4().hex[:8]
    owner, slug, name = f"pager{suffix}", f"pager-{suffix}", f"Pager picks {suffix}"
    cogmill.manage("shell", "-c", (
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from accounts.models import User\n"
        "from playground.models import BuildStatus, Collection, Model, Version\n"
        f"owner = User.objects.create_user({owner!r})\n"
        "now = timezone.now()\n"
        "inside = Model.objects.bulk_create([\n"
        f"    Model(owner=owner, name=f'in-{{i:02d}}', created_at=now - timedelta(hours=1, minutes=i))\n"
        f"    for i in range({IN_COLLECTION})])\n"
        "Model.objects.bulk_create([\n"
        f"    Model(owner=owner, name=f'out-{{i:02d}}', created_at=now - timedelta(minutes=i))\n"
        f"    for i in range({OUTSIDE})])\n"
        "Version.objects.bulk_create([Version(model=m, version_id=f'{m.pk:064d}', build_status=BuildStatus.READY)\n"
        "                             for m in Model.objects.filter(owner=owner)])\n"
        f"c = Collection.objects.create(slug={slug!r}, name={name!r}, description='Paging test')\n"
        f"c.models.set(Model.objects.filter(owner=owner, name__startswith='in-'))\n"
    ))
    yield slug, name, owner
    cogmill.manage("shell", "-c", (
        "from accounts.models import User\n"
        "from playground.models import Collection\n"
        f"Collection.objects.filter(slug={slug!r}).delete()\n"
        f"User.objects.filter(username={owner!r}).delete()\n"
    ))


def test_older_page_of_a_collection_keeps_the_collection(page: Page, cogmill, curated):
    slug, name, owner = curated
    cards = page.locator("#results .model-card .name")
    page.goto(f"/?collection={slug}")
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    expect(cards).to_have_count(24)
    first = cards.all_inner_texts()
    assert all(text.startswith(f"{owner}/in-") for text in first), first

    page.get_by_role("link", name="Older →").click()
    page.wait_for_url("**page=2*")
    second = cards.all_inner_texts()
    assert sorted(second) == [f"{owner}/in-{i:02d}" for i in range(24, IN_COLLECTION)], second
    assert f"collection={slug}" in page.url, page.url
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    expect(page.locator(".row.small a.badge")).to_have_text(name)  # the collection stays selected
    expect(page.locator("input[type=hidden][name=collection]")).to_have_value(slug)

    page.get_by_role("link", name="← Newer").click()
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    assert sorted(cards.all_inner_texts()) == sorted(first)
