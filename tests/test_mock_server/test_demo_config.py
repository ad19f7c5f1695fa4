"""The config file's ``[demo]`` table replaces or extends the demo account's data."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mock_server import MockServer
from mock_server.catalog import Catalog
from mock_server.config import load_config
from tests.test_mock_server.test_api_operations import client

EXAMPLE = """
data_seed = 3

[demo]
replace = {replace}

[[demo.lists]]
name = "Workshop attendees"
custom_fields = ["Company"]
subscribers = [
  {{ email = "ann@example.com", name = "Ann", tags = ["vip"], custom_fields = {{ Company = "ACME" }} }},
  {{ email = "bob@example.com", status = "unsubscribed" }},
]
segments = [{{ name = "VIPs" }}, {{ name = "A/B test", is_split_test = true }}]
web_forms = [{{ name = "Footer", type = "inline" }}, {{ name = "Exit", type = "lightbox" }}]
split_tests = [{{ name = "Footer or exit", web_forms = ["Footer", "Exit"] }}]
landing_pages = [{{ name = "Launch", published = true }}]
followups = ["Welcome", "Day two"]
broadcasts = [
  {{ subject = "Last week", body_text = "Hi", status = "sent", days = -2 }},
  {{ subject = "Next week", body_html = "<p>Hi</p>", status = "scheduled", days = 7 }},
  {{ subject = "Unfinished", body_text = "Hi" }},
]

[[demo.integrations]]
service_name = "facebook"
login = "My page"
"""


def served_lists(tmp_path: Path, replace: bool) -> tuple[list[str], dict[str, object]]:
    path = tmp_path / "mock.toml"
    path.write_text(EXAMPLE.format(replace=str(replace).lower()), encoding="utf-8")
    with MockServer(load_config(path)) as mock, client(mock) as api:
        lists = api.get("/accounts/1/lists").json()["entries"]
        workshop = next(item for item in lists if item["name"] == "Workshop attendees")
        base = workshop["self_link"]
        seen = {
            "subscribers": workshop["total_subscribers"],
            "unsubscribed": workshop["total_unsubscribed_subscribers"],
            "fields": [f["name"] for f in api.get(f"{base}/custom_fields").json()["entries"]],
            "ann": api.get(
                f"{base}/subscribers", params={"ws.op": "find", "email": "ann@example.com"}
            ).json()["entries"][0]["custom_fields"],
            "segments": [s["is_split_test"] for s in api.get(f"{base}/segments").json()["entries"]],
            "components": len(
                httpx.get(
                    api.get(f"{base}/web_form_split_tests").json()["entries"][0][
                        "components_collection_link"
                    ],
                    headers=api.headers,
                ).json()["entries"]
            ),
            "pages": [p["status"] for p in api.get(f"{base}/landing_pages").json()["entries"]],
            "campaigns": [c["campaign_type"] for c in api.get(f"{base}/campaigns").json()["entries"]],
            "sent": api.get(f"{base}/broadcasts", params={"status": "sent"}).json()["entries"][0]["subject"],
            "scheduled": api.get(f"{base}/broadcasts/total", params={"status": "scheduled"}).json(),
            "integrations": [
                i["service_name"] for i in api.get("/accounts/1/integrations").json()["entries"]
            ],
        }
        mock.check_errors()
    return [item["name"] for item in lists], seen


def test_the_example_extends_the_demo_data(tmp_path: Path) -> None:
    names, seen = served_lists(tmp_path, replace=False)
    assert names == ["Demo Newsletter", "Demo Customers", "Workshop attendees"]
    assert seen == {
        "subscribers": 2,
        "unsubscribed": 1,
        "fields": ["Company"],
        "ann": {"Company": "ACME"},
        "segments": [False, True],
        "components": 2,
        "pages": ["published"],
        "campaigns": ["f", "f", "b"],
        "sent": "Last week",
        "scheduled": {"total_size": 1},
        "integrations": ["facebook", "twitter", "facebook"],
    }


def test_replace_keeps_only_the_configured_data(tmp_path: Path) -> None:
    names, seen = served_lists(tmp_path, replace=True)
    assert names == ["Workshop attendees"]
    assert seen["integrations"] == ["facebook"]


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ('[[demo.lists]]\nnom = "x"', "demo.lists[0]: unknown key 'nom'"),
        (
            '[[demo.lists]]\nname = "x"\nsubscribers = [{ email = "nope" }]',
            "demo.lists[0]: email: Invalid email address.",
        ),
        (
            '[[demo.lists]]\nname = "x"\nweb_forms = [{ name = "f", type = "banner" }]',
            "demo.lists[0]: type: Expected one of",
        ),
        (
            '[[demo.lists]]\nname = "x"\nbroadcasts = [{ subject = "s", status = "sent", days = 3 }]',
            "sent (days < 0)",
        ),
        (
            '[[demo.lists]]\nname = "x"\nsplit_tests = [{ name = "t", web_forms = ["missing"] }]',
            "name web forms of this list",
        ),
        ('[[demo.integrations]]\nservice_name = "facebook"', "demo.integrations[0]: missing key 'login'"),
        ("[demo]\nreplace = 1", "demo.replace must be true or false"),
    ],
)
def test_a_bad_demo_table_is_refused_when_loaded(tmp_path: Path, snippet: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(snippet, encoding="utf-8")
    with pytest.raises(ValueError, match="config file") as caught:
        load_config(path)
    assert message in str(caught.value)


def test_a_landing_page_name_from_a_config_file_is_text_not_markup() -> None:
    page = Catalog().add_landing_page(1001, '<img src=x onerror="alert(1)">', 0.0, published=True)
    assert "<img" not in page.content_html
    assert "&lt;img" in page.content_html
