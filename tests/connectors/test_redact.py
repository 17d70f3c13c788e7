"""What the scrubber takes out of a text, and what it leaves for the reader."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import httpx
import pytest
from pydantic import BaseModel, SecretStr

from connectors.http import raise_for_response
from router.settings import Settings
from vocab.redact import Redactor, mask_url, request_credentials, scrub, secret_values

SECRET = "s3cr3t/with+odd=chars&\"quote"


@pytest.mark.parametrize("form", [
    SECRET, quote(SECRET, safe=""), json.dumps(SECRET)[1:-1],
    base64.b64encode(SECRET.encode()).decode(),
    base64.b64encode(f"bot@acme.example/token:{SECRET}".encode()).decode(),
    base64.b64encode(f"x:{SECRET}".encode()).decode(),  # each of the three alignments
    base64.b64encode(f"ab:{SECRET}!".encode()).decode(),
    base64.urlsafe_b64encode(f"{SECRET}.tail".encode()).decode(),
])
def test_every_encoding_of_a_configured_secret_goes(form: str) -> None:
    text = f"upstream said: could not use {form} (request 17)"
    out = Redactor([SECRET]).scrub(text)
    assert form not in out
    assert "upstream said: could not use" in out and "(request 17)" in out


@pytest.mark.parametrize("text", [
    "Authorization: Basic Ym90OmFiY2RlZjEyMzQ1", "authorization: Bearer ghp_0123456789abcdef",
    '{"Authorization": "token 1-14-7f3c2a9be04d"}', "curl -H 'X-Api-Key: k_live_42abc'",
    "client_secret=cs_9f8e7d6c5b4a&grant_type=client_credentials", '"password": "hunter22"',
])
def test_credential_material_goes_without_knowing_the_secret(text: str) -> None:
    out = scrub(text)
    for secret in ("Ym90OmFiY2RlZjEyMzQ1", "ghp_0123456789abcdef", "7f3c2a9be04d",
                   "k_live_42abc", "cs_9f8e7d6c5b4a", "hunter22"):
        assert secret not in out, out
    assert "***" in out


@pytest.mark.parametrize(("url", "masked"), [
    ("SASL_SSL://user:pa55@broker:9093", "SASL_SSL://***@broker:9093"),
    ("kafka://u:p@h1:9092,u:p@h2:9092", "kafka://***@h1:9092,***@h2:9092"),
    ("https://bot:tok%40en@acme.zendesk.com/api", "https://***@acme.zendesk.com/api"),
    ("user:pass@127.0.0.1:9092", "***@127.0.0.1:9092"),
])
def test_credentials_in_urls_are_masked(url: str, masked: str) -> None:
    assert mask_url(f"cannot reach {url}: refused") == f"cannot reach {masked}: refused"


def test_what_is_not_a_secret_is_left_alone() -> None:
    text = ("POST https://acme.zendesk.com/api/v2/tickets -> 422: subject is required; "
            "mail bot@acme.example at 10:30, ticket #42")
    assert Redactor(["unrelated-secret"]).scrub(text) == text


def test_secret_values_reads_every_secretstr_of_a_config() -> None:
    class Inner(BaseModel):
        key: SecretStr = SecretStr("inner-key")

    class Config(BaseModel):
        token: SecretStr = SecretStr("tok-1234")
        empty: SecretStr = SecretStr("")
        none: SecretStr | None = None
        name: str = "not-a-secret"
        inner: Inner = Inner()

    assert sorted(secret_values(Config())) == ["inner-key", "tok-1234"]
    settings = Settings(ingest_token=SecretStr("ingest-1234"))
    assert "ingest-1234" in secret_values(settings)


def test_the_request_own_basic_pair_is_scrubbed_from_an_echo() -> None:
    pair = base64.b64encode(b"router.integration:pw-0xDEAD").decode()
    request = httpx.Request("POST", "https://acme.service-now.com/api/now/table/incident",
                            headers={"Authorization": f"Basic {pair}"})
    assert {"router.integration:pw-0xDEAD", "pw-0xDEAD"} <= set(request_credentials(request))
    echo = httpx.Response(400, request=request,
                          text=f"bad request from router.integration:pw-0xDEAD ({pair})")
    with pytest.raises(Exception) as caught:
        raise_for_response(echo, what="servicenow create")
    assert "pw-0xDEAD" not in str(caught.value) and pair not in str(caught.value)
    assert "servicenow create" in str(caught.value) and "-> 400" in str(caught.value)
