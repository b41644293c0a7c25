"""Testing code that calls Bitrix24 through the official Python SDK, with the b24-server pytest
plugin: no paid portal, no network.

    pip install b24-server b24pysdk pytest
    pytest

The plugin starts one server for the session (one per xdist worker) and gives every test a clean
portal through the `b24` fixture; `b24_env` also points REQUESTS_CA_BUNDLE at the server's local
CA, since the SDK speaks only HTTPS.
"""

import pytest
from b24pysdk import BitrixWebhook, Client
from b24pysdk.errors import BitrixAPIError


def sdk_client(portal, **options):
    """The SDK's client on a portal, as the code under test would build it."""
    domain, _, token = portal.https_webhook_url.removeprefix("https://").partition("/rest/")
    return Client(BitrixWebhook(domain=domain, webhook_token=token), **options)


@pytest.fixture
def client(b24_env):
    return sdk_client(b24_env)


def test_every_test_starts_from_an_empty_crm(client):
    created = client.crm.deal.add(fields={"TITLE": "First deal"}).result
    assert created == 1
    assert [deal["TITLE"] for deal in client.crm.deal.list().result] == ["First deal"]


def test_the_sdk_retries_a_limit_error_and_the_journal_shows_both_calls(client, b24):
    b24.fault("QUERY_LIMIT_EXCEEDED", method="crm.deal.list", times=1)
    assert client.crm.deal.list().result == []  # after one 503 and a retry
    assert [(e["http"], e["error"]) for e in b24.journal(method="crm.deal.list")] == [
        (503, "QUERY_LIMIT_EXCEEDED"),
        (200, None),
    ]


def test_an_error_the_sdk_does_not_retry_is_raised(client, b24):
    b24.fault("ACCESS_DENIED", method="crm.deal.add")
    with pytest.raises(BitrixAPIError) as refused:
        client.crm.deal.add(fields={"TITLE": "Refused"}).result
    assert refused.value.error == "ACCESS_DENIED"


def test_a_day_passes_in_a_millisecond(client, b24):
    client.crm.deal.add(fields={"TITLE": "Old"}).result
    b24.clock.advance(86400)
    client.crm.deal.add(fields={"TITLE": "New"}).result
    created = {d["TITLE"]: d["DATE_CREATE"][:10] for d in client.crm.deal.list(select=["TITLE", "DATE_CREATE"]).result}
    assert created["Old"] < created["New"]


@pytest.mark.b24(plan="standard")  # a burst of 50 calls, then 2 per second, as the real service
def test_on_the_standard_plan_the_51st_call_of_a_burst_is_refused(b24_env):
    client = sdk_client(b24_env, initial_retry_delay=0.01, retry_delay_increment=0.01)
    b24_env.clock.freeze()  # no refill while time stands still, however slow the machine
    for _ in range(50):
        assert client.server.time().result
    with pytest.raises(BitrixAPIError) as refused:
        client.server.time().result  # refused, and so are the SDK's retries
    assert refused.value.error == "QUERY_LIMIT_EXCEEDED"
    assert len(b24_env.journal(error="QUERY_LIMIT_EXCEEDED")) == 3  # 3 attempts: its default
