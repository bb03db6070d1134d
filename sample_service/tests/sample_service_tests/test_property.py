"""Property-based: whatever a client sends to the public API, the answer is never a 500."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
ITEM_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "name": JSON_VALUES | st.text(max_size=150),
        "description": JSON_VALUES,
        "price": JSON_VALUES | st.decimals(allow_nan=True, allow_infinity=True).map(str),
        "quantity": JSON_VALUES | st.integers(),
    },
)
USER_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "email": JSON_VALUES | st.emails(),
        "full_name": JSON_VALUES,
        "password": JSON_VALUES | st.text(max_size=200),
    },
)
PATH_SEGMENT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"), max_size=20
)


@pytest.fixture
def auth(client: TestClient, login: Callable[..., dict[str, str]]) -> dict[str, str]:
    """One user for every generated example (function-scoped fixtures outlive examples)."""
    return login(client)


SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(
    limit=st.one_of(st.integers(), st.text(max_size=10)),
    offset=st.one_of(st.integers(), st.text(max_size=10)),
    segment=PATH_SEGMENT,
)
def test_reads_never_500(client: TestClient, limit: object, offset: object, segment: str) -> None:
    listing = client.get("/api/v1/items", params={"limit": limit, "offset": offset})
    assert listing.status_code in {200, 422}
    single = client.get(f"/api/v1/items/{quote(segment, safe='')}")
    assert single.status_code < 500


@SETTINGS
@given(item=ITEM_FIELDS | JSON_VALUES, user=USER_FIELDS | JSON_VALUES)
def test_writes_never_500(
    client: TestClient, auth: dict[str, str], item: object, user: object
) -> None:
    for response in (
        client.post("/api/v1/items", json=item, headers=auth),
        client.patch("/api/v1/items/1", json=item, headers=auth),
        client.post("/api/v1/users", json=user),
        client.post("/api/v1/auth/token", json=user),
    ):
        assert response.status_code < 500, response.text


@SETTINGS
@given(
    body=st.binary(max_size=200),
    content_type=st.sampled_from(["application/json", "text/plain", ""]),
)
def test_raw_bodies_never_500(client: TestClient, body: bytes, content_type: str) -> None:
    response = client.post("/api/v1/users", content=body, headers={"Content-Type": content_type})
    assert response.status_code < 500
