"""A page that is not there, not allowed or broken answers with the site's own page: its header,
what happened in a sentence, and a way back; never Django's bare "Not Found"."""

import pytest
from django.test import RequestFactory

from cogmill import urls
from tests.unit.conftest import client_for

pytestmark = pytest.mark.django_db


def test_an_unknown_path_is_the_sites_404_page_with_a_way_back(alice):
    page = client_for(alice).get("/no-such-owner/no-such-model")
    text = page.content.decode()
    assert page.status_code == 404
    assert '<header class="topbar">' in text and ">alice</a>" in text  # the site header, logged in
    assert "Nothing here" in text and "<code>/no-such-owner/no-such-model</code>" in text
    assert 'href="/history"' in text


def test_a_logged_out_visitor_is_offered_to_log_in_from_the_404(make_prediction):
    page = client_for(None).get(f"/p/{make_prediction().id}")
    text = page.content.decode()
    assert page.status_code == 404
    assert "or it is not shared with you" in text
    assert "/login?next=/p/" in text


def test_a_refusal_is_the_sites_403_page_saying_why(acme, bob):
    page = client_for(bob).get("/orgs/acme/spend")
    text = page.content.decode()
    assert page.status_code == 403
    assert "Not allowed" in text and "Only an organization&#x27;s admins see its spend." in text
    assert '<header class="topbar">' in text


def test_a_broken_page_is_the_sites_500_page_even_without_a_session():
    response = urls.handler500(RequestFactory().get("/p/anything"))
    text = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in text and '<header class="topbar">' in text
    assert "Traceback" not in text


def test_the_api_keeps_answering_problem_json():
    assert urls.handler404(RequestFactory().get("/v1/nope"))["Content-Type"] == "application/problem+json"
