"""Bearer keys, when configured."""

import httpx
import openai
import pytest

from bench.fake_upstream import Reply


def test_a_configured_key_is_required(make_client, upstream):
    keyed = make_client(api_keys="key-one, key-two")
    base_url = str(keyed.base_url)
    upstream.script(Reply(text="welcome"))
    with openai.OpenAI(base_url=base_url, api_key="key-two", max_retries=0) as good:
        assert good.responses.create(model="fake-model", input="x").output_text == "welcome"
    with (
        openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        bad.models.list()
    assert info.value.code == "invalid_api_key"
    assert httpx.get(base_url.removesuffix("v1/") + "healthz").status_code == 200


def test_no_keys_means_no_auth(client, upstream):
    assert client.models.list().data
