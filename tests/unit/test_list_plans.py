"""Lists that stay as fast at 100k rows as at 1k: the database reads an account's page of runs from
an index, in order, seeking to a cursor's place, and never sorts all of the account's runs
(bench/scale.py measures the times; this checks the plan that makes them flat)."""

import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.pagination import _encode
from tests.unit.conftest import bearer


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # on a near-empty table a scan is cheaper: ask what it can do
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(" ".join(str(part) for part in row) for row in cursor.fetchall())


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "table", "index"), [
    ("/v1/predictions", "playground_prediction", "prediction_owner_newest"),
    ("/v1/trainings", "playground_training", "training_owner_newest"),
])
def test_a_page_of_an_accounts_runs_is_read_in_index_order(client, alice, make_prediction, url, table, index):
    make_prediction()
    cursor = _encode("n", SimpleNamespace(created_at=timezone.now(), pk="0" * 26), "created_at")
    for page in (url, f"{url}?cursor={cursor}"):
        with CaptureQueriesContext(connection) as seen:
            assert client.get(page, **bearer(alice)).status_code == 200
        [sql] = [q["sql"] for q in seen.captured_queries if re.search(rf'FROM "?{table}"?', q["sql"])]
        plan = _plan(sql)
        assert index in plan, plan
        assert "TEMP B-TREE" not in plan and not re.search(r"\bSort\b", plan), plan
        if "cursor" in page:  # seeks to the cursor's place rather than reading every row before it
            assert re.search(r"created_at<\?|Index Cond: .*created_at <=", plan), plan
