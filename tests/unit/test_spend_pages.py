"""The spend pages in-process: who sees whose amounts (a person their own, an organization's admins
its own, staff everyone's), setting and lifting a monthly limit, the ledger as CSV row for row
(formulas neutralized), the header banner at the limit, and the staff's billing view (prices keep
their history, any account's limit)."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import ApiToken, User
from playground.models import Hardware, HardwarePrice, Model, SpendEntry, SpendLimit, Status, Version
from playground.services import billing, catalog, runs
from tests.unit.conftest import ECHO_SCHEMA, client_for

pytestmark = pytest.mark.django_db
PRICE = Decimal("0.001")  # per second


@pytest.fixture(autouse=True)
def priced_cpu():
    billing.set_price(catalog.default_hardware(), PRICE, at=timezone.now() - timedelta(days=1))


@pytest.fixture
def staff() -> User:
    """Staff who may change hardware and spend limits in the admin."""
    user = User.objects.create_user("sam", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["change_hardware", "change_spendlimit"]))
    return user


def test_staff_without_the_permissions_see_billing_but_change_nothing(version):
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    cpu = Hardware.objects.get(sku="cpu")
    assert client_for(viewer).get("/admin/billing/").status_code == 200
    answer = client_for(viewer).post("/admin/billing/", {"action": "price", "price-hardware": cpu.pk,
                                                         "price-price_per_second": "9"})
    assert answer.status_code == 403 and Hardware.objects.get(sku="cpu").price_per_second == cpu.price_per_second


def _ran(prediction, seconds: float):
    """Let the prediction run for `seconds` and end, as a worker would: its one ledger entry."""
    type(prediction).objects.filter(pk=prediction.pk).update(
        status=Status.PROCESSING, started_at=timezone.now() - timedelta(seconds=seconds))
    prediction.refresh_from_db()
    runs.end(prediction, Status.SUCCEEDED, output="x", metrics={"predict_time": seconds})
    return SpendEntry.objects.get(run_id=prediction.pk)


def _model(owner: User, name: str) -> Version:
    model = Model.objects.create(owner=owner, name=name)
    return Version.objects.create(model=model, version_id=(name[:1] * 64)[:64], build_status="ready",
                                  openapi_schema=ECHO_SCHEMA, cog_version="0.23.1")


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# ---------------------------------------------------------------- who sees what

def test_a_person_sees_their_own_spend_by_model_token_and_hardware(alice, version):
    _ran(runs.create_prediction(alice, version, {"text": "a"}), 2)
    token, _ = ApiToken.issue(alice, name="ci")
    _ran(runs.create_prediction(alice, version, {"text": "b"}, token=token), 3)
    page = client_for(alice).get("/account/spend")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="month-spent">$0.005<' in html
    assert "alice/echo" in html and ">ci<" in html and ">web<" in html and ">cpu<" in html
    assert 'id="spend-chart"' in html and f'data-date="{timezone.localdate():%Y-%m-%d}" data-cost="0.00500000" data-runs="2"' in html


def test_anonymous_visitors_are_sent_to_log_in():
    for path in ("/account/spend", "/account/spend.csv", "/orgs/acme/spend", "/orgs/acme/spend.csv"):
        response = client_for().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login"), path


def test_an_organizations_spend_is_for_its_admins_only(acme, alice, bob, carol, mallory, staff):
    version = _model(acme, "org-model")
    _ran(runs.create_prediction(alice, version, {"text": "a"}), 4)  # acme pays for its member
    admin_page = client_for(carol).get("/orgs/acme/spend")
    assert admin_page.status_code == 200
    assert 'id="month-spent">$0.004<' in admin_page.content.decode()
    assert client_for(carol).get("/orgs/acme/spend.csv").status_code == 200
    for member in (alice, bob):
        assert client_for(member).get("/orgs/acme/spend").status_code == 403
        assert client_for(member).get("/orgs/acme/spend.csv").status_code == 403
        assert client_for(member).post("/orgs/acme/spend", {"monthly_limit": "1"}).status_code == 403
    for outsider in (mallory, staff):
        assert client_for(outsider).get("/orgs/acme/spend").status_code == 404
        assert client_for(outsider).get("/orgs/acme/spend.csv").status_code == 404
    assert billing.limit_of(acme) is None
    # alice's own page does not count what acme paid for her
    assert 'id="month-spent">$0.00<' in client_for(alice).get("/account/spend").content.decode()


def test_a_persons_csv_has_only_their_own_entries(alice, mallory, version):
    _ran(runs.create_prediction(alice, version, {"text": "a"}), 1)
    rows = _csv(client_for(mallory).get("/account/spend.csv"))
    assert rows == [rows[0]]  # the header alone


def test_admins_of_an_org_find_its_spend_from_their_own_page(acme, carol, alice):
    assert "/orgs/acme/spend" in client_for(carol).get("/account/spend").content.decode()
    assert "/orgs/acme/spend" not in client_for(alice).get("/account/spend").content.decode()


# ---------------------------------------------------------------- the limit form

def test_a_person_sets_changes_and_lifts_their_limit(alice):
    client = client_for(alice)
    response = client.post("/account/spend", {"monthly_limit": "12.50"})
    assert response.status_code == 302
    assert billing.limit_of(alice).monthly_limit == Decimal("12.50")
    page = client.get("/account/spend").content.decode()
    assert "now $12.50" in page and 'id="month-limit">$12.50<' in page
    client.post("/account/spend", {"monthly_limit": ""})
    assert billing.limit_of(alice) is None
    assert "is lifted" in client.get("/account/spend").content.decode()


@pytest.mark.parametrize("value", ["-1", "abc", "1.234", "1e99"])
def test_a_bad_limit_is_a_form_error_and_changes_nothing(alice, value):
    billing.set_limit(account=alice, monthly_limit=Decimal(5))
    response = client_for(alice).post("/account/spend", {"monthly_limit": value})
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert billing.limit_of(alice).monthly_limit == Decimal(5)


def test_an_org_admin_sets_the_orgs_limit(acme, carol):
    assert client_for(carol).post("/orgs/acme/spend", {"monthly_limit": "3"}).status_code == 302
    assert billing.limit_of(acme).monthly_limit == Decimal(3)
    assert billing.limit_of(carol) is None


def test_the_limit_form_needs_csrf(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/account/spend", {"monthly_limit": "1"}).status_code == 403
    assert billing.limit_of(alice) is None


def test_the_page_warns_at_80_and_says_reached_at_100_percent(alice, version):
    _ran(runs.create_prediction(alice, version, {"text": "a"}), 80)  # $0.08
    billing.set_limit(account=alice, monthly_limit=Decimal("0.10"))  # room left for a run (t4 holds $0.0135)
    page = client_for(alice).get("/account/spend").content.decode()
    assert "80% of the monthly limit is spent" in page and "Monthly spend limit reached." not in page
    billing.set_limit(account=alice, monthly_limit=None)
    _ran(runs.create_prediction(alice, version, {"text": "b"}), 20)  # $0.10 in all
    billing.set_limit(account=alice, monthly_limit=Decimal("0.10"))
    page = client_for(alice).get("/account/spend").content.decode()
    assert 'id="limit-notice" role="alert"><strong>Monthly spend limit reached.</strong>' in page
    assert 'id="limit-banner"' in page
    account = client_for(alice).get("/account").content.decode()
    assert 'id="spend-summary"' in account and "(100%)" in account and 'id="limit-banner"' in account


def test_the_banner_shows_once_no_run_fits_and_costs_one_query(alice, mallory, django_assert_num_queries):
    from playground.services import spend_reports

    billing.set_limit(account=alice, monthly_limit=Decimal(1))
    assert 'id="limit-banner"' not in client_for(alice).get("/history").content.decode()
    # nothing spent, but the cheapest hardware (gpu-t4) holds 60 s = $0.0135 for a run: none fits
    billing.set_limit(account=alice, monthly_limit=Decimal("0.01"))
    with django_assert_num_queries(1):
        assert spend_reports.limit_reached(alice) == {"limit": Decimal("0.01"), "spent": Decimal(0)}
    page = client_for(alice).get("/history").content.decode()
    assert 'id="limit-banner"' in page and "of your $0.01 monthly limit, and what is left is less than a run holds" in page
    assert 'id="limit-banner"' not in client_for(mallory).get("/history").content.decode()  # alice's alone
    billing.set_limit(account=alice, monthly_limit=None)
    assert 'id="limit-banner"' not in client_for(alice).get("/history").content.decode()


# ---------------------------------------------------------------- the CSV

def test_the_csv_is_the_ledger_row_for_row(alice, version):
    token, _ = ApiToken.issue(alice, name="laptop")
    entries = [_ran(runs.create_prediction(alice, version, {"text": str(i)}, token=token if i % 2 else None), i + 1)
               for i in range(3)]
    today = timezone.localdate().isoformat()
    rows = _csv(client_for(alice).get(f"/account/spend.csv?start={today}&end={today}"))
    assert rows[0] == ["created_at", "kind", "run_id", "model", "version", "deployment", "hardware", "seconds",
                       "price_per_second", "cost", "token"]
    assert rows[1:] == [[e.created_at.isoformat(), "prediction", e.run_id, "alice/echo", "a" * 64, "", "cpu",
                         str(e.seconds), str(e.price_per_second), str(e.cost), "laptop" if i % 2 else "web"]
                        for i, e in enumerate(entries)]
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert len(_csv(client_for(alice).get(f"/account/spend.csv?start={yesterday}&end={yesterday}"))) == 1


def test_csv_cells_that_look_like_formulas_are_neutralized(alice):
    version = _model(alice, "x")
    Model.objects.filter(pk=version.model.pk).update(name="=cmd")  # as if chosen so
    token, _ = ApiToken.issue(alice, name="@SUM(A1)")
    _ran(runs.create_prediction(alice, Version.objects.get(pk=version.pk), {"text": "a"}, token=token), 1)
    row = _csv(client_for(alice).get("/account/spend.csv"))[1]
    assert row[3] == "alice/=cmd"  # starts with its owner: nothing a spreadsheet runs
    assert row[10] == "'@SUM(A1)"
    from web.presenters import csv_safe
    assert [csv_safe(v) for v in ("=1+1", "+1", "-1", "@x", "ok")] == ["'=1+1", "'+1", "'-1", "'@x", "ok"]


# ---------------------------------------------------------------- the staff's billing view

def test_the_billing_view_is_for_staff_only(alice, mallory):
    response = client_for().get("/admin/billing/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    for person in (alice, mallory):
        assert client_for(person).get("/admin/billing/").status_code == 404
        assert client_for(person).get("/admin/billing/ledger.csv").status_code == 404
        assert client_for(person).post("/admin/billing/", {"action": "price", "price-hardware": "cpu",
                                                           "price-price_per_second": "9"}).status_code == 404
    assert Hardware.objects.get(sku="cpu").price_per_second == PRICE


def test_staff_see_every_accounts_totals_and_the_whole_ledger(alice, bob, staff, version):
    _ran(runs.create_prediction(alice, version, {"text": "a"}), 5)
    _ran(runs.create_prediction(bob, version, {"text": "b"}), 7)
    page = client_for(staff).get("/admin/billing/").content.decode()
    assert 'id="billing-chart"' in page and 'id="top-spenders"' in page
    top = page.split('id="top-spenders"')[1].split("</table>")[0]
    assert top.index(">bob<") < top.index(">alice<")
    rows = _csv(client_for(staff).get("/admin/billing/ledger.csv"))
    assert sorted(r[2] for r in rows[1:]) == sorted(SpendEntry.objects.values_list("run_id", flat=True))


def test_staff_set_a_price_and_its_history_is_kept(staff):
    cpu = Hardware.objects.get(sku="cpu")
    before = HardwarePrice.objects.filter(hardware=cpu).count()
    response = client_for(staff).post("/admin/billing/", {"action": "price", "price-hardware": "cpu",
                                                          "price-price_per_second": "0.002"})
    assert response.status_code == 302
    cpu.refresh_from_db()
    assert cpu.price_per_second == Decimal("0.002")
    assert list(HardwarePrice.objects.filter(hardware=cpu).values_list("price_per_second", flat=True)[:2]) == [
        Decimal("0.002"), PRICE]
    assert HardwarePrice.objects.filter(hardware=cpu).count() == before + 1
    bad = client_for(staff).post("/admin/billing/", {"action": "price", "price-hardware": "cpu",
                                                     "price-price_per_second": "-1"})
    assert bad.status_code == 400 and HardwarePrice.objects.filter(hardware=cpu).count() == before + 1


def test_staff_set_and_lift_any_accounts_limit(staff, acme):
    client = client_for(staff)
    assert client.post("/admin/billing/", {"action": "limit", "limit-account": "acme",
                                           "limit-monthly_limit": "40"}).status_code == 302
    assert billing.limit_of(acme).monthly_limit == Decimal(40)
    assert 'id="limit-acme"' in client.get("/admin/billing/").content.decode()
    client.post("/admin/billing/", {"action": "limit", "limit-account": "acme", "limit-monthly_limit": ""})
    assert billing.limit_of(acme) is None
    unknown = client.post("/admin/billing/", {"action": "limit", "limit-account": "nobody",
                                              "limit-monthly_limit": "1"})
    assert unknown.status_code == 400 and "There is no account" in unknown.content.decode()
    assert not SpendLimit.objects.filter(account__username="nobody").exists()


def test_a_limit_staff_set_shows_as_the_operators_and_can_not_be_lifted_from_the_page(alice):
    billing.set_limit(account=alice, monthly_limit=Decimal("5"), by_staff=True)
    page = client_for(alice).post("/account/spend", {"monthly_limit": ""})
    assert page.status_code == 403 and billing.limit_of(alice).monthly_limit == Decimal("5")
    assert 'id="limit-locked"' in client_for(alice).get("/account/spend").content.decode()
