"""Functions, invocations and logs through the sync and async clients, against a real server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from conftest import ADMIN_KEY, Server

from faas_sdk import AsyncFaaSClient, FaaSClient, FaasApiError, FaasConnectionError

HELLO = """
export default (event, context) => {
  context.log.warn('hello from', context.functionName);
  if (event && event.fail) throw new TypeError('asked to fail');
  return typeof event === 'string' ? { text: event } : { hi: event.name, version: context.version };
};
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_deploys_invokes_and_lists(client: FaaSClient) -> None:
    name = unique("hello")
    record = client.deploy(name, {"runtime": "js", "code": HELLO})
    assert (record["name"], record["latestVersion"], record["latest"]["runtime"]) == (name, 1, "js")
    out = client.invoke(name, {"name": "Ada"})
    assert out["result"] == {"hi": "Ada", "version": 1}
    assert out["version"] == 1 and out["invocation_id"]
    assert client.invoke(name, "plain text")["result"] == {"text": "plain text"}

    assert client.update_function(name, {"description": "v2"})["latestVersion"] == 2
    assert [v["version"] for v in client.list_versions(name)["items"]] == [2, 1]
    assert client.invoke(name, {"name": "B"}, version=1)["result"]["version"] == 1
    assert name in [f["name"] for f in client.functions(page_size=1)]
    assert client.get_function(name)["latest"]["description"] == "v2"

    invocation = client.get_invocation(out["invocation_id"])
    assert invocation["status"] == "succeeded" and invocation["result"] == {"hi": "Ada", "version": 1}
    assert any("hello from" in line["message"] for line in invocation["logs"])
    listed = client.list_invocations(function_name=name)["items"]
    assert out["invocation_id"] in [i["id"] for i in listed]
    assert any(line["level"] == "warn" for line in client.logs(name))

    client.delete_function(name)
    with pytest.raises(FaasApiError) as err:
        client.get_function(name)
    assert (err.value.status, err.value.code) == (404, "FAAS_ERR_FUNCTION_NOT_FOUND")


def test_async_invoke_wait_and_idempotency(client: FaaSClient) -> None:
    name = unique("queued")
    client.deploy(name, {"runtime": "js", "code": HELLO, "maxRetries": 0})
    key = unique("key")
    first = client.invoke_async(name, {"name": "Q"}, idempotency_key=key)
    again = client.invoke_async(name, {"name": "Q"}, idempotency_key=key)
    assert (again["invocation_id"], again["duplicate"], first["duplicate"]) == (first["invocation_id"], True, False)
    done = client.wait(first["invocation_id"], timeout=60)
    assert (done["status"], done["result"]) == ("succeeded", {"hi": "Q", "version": 1})

    failed = client.wait(client.invoke_async(name, {"fail": True})["invocation_id"], timeout=60)
    assert failed["status"] in ("failed", "dead_lettered")
    assert failed["error"]["type"] == "TypeError"


def test_errors_carry_the_api_codes(server: Server, client: FaaSClient) -> None:
    name = unique("failing")
    client.deploy(name, {"runtime": "js", "code": HELLO})
    with pytest.raises(FaasApiError) as err:
        client.invoke(name, {"fail": True})
    assert err.value.code == "FAAS_ERR_FUNCTION_ERROR"
    with pytest.raises(FaasApiError) as err:
        client.deploy(unique("broken"), {"runtime": "js", "code": "export default ("})
    assert (err.value.status, err.value.code) == (422, "FAAS_ERR_COMPILE_ERROR")
    with pytest.raises(FaasApiError) as err:
        FaaSClient(server.url, "faas_wrong").list_functions()
    assert (err.value.status, err.value.code) == (401, "FAAS_ERR_UNAUTHORIZED")
    with pytest.raises(FaasConnectionError):
        FaaSClient("http://127.0.0.1:1", ADMIN_KEY).health()


def test_defaults_come_from_the_environment(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAAS_URL", server.url)
    monkeypatch.setenv("FAAS_API_KEY", ADMIN_KEY)
    client = FaaSClient()
    assert (client.base_url, client.api_key) == (server.url, ADMIN_KEY)
    assert isinstance(client.list_functions()["items"], list)
    monkeypatch.delenv("FAAS_URL")
    assert FaaSClient().base_url == "http://localhost:8080"


def test_async_client(server: Server) -> None:
    async def main() -> None:
        async with AsyncFaaSClient(server.url, ADMIN_KEY) as client:
            name = unique("aio")
            await client.deploy(name, {"runtime": "js", "code": HELLO})
            results = await asyncio.gather(*(client.invoke(name, {"name": str(i)}) for i in range(4)))
            assert [r["result"]["hi"] for r in results] == ["0", "1", "2", "3"]
            queued = await client.invoke_async(name, {"name": "later"})
            assert (await client.wait(queued["invocation_id"]))["result"]["hi"] == "later"
            with pytest.raises(FaasApiError) as err:
                await client.get_function(unique("missing"))
            assert err.value.code == "FAAS_ERR_FUNCTION_NOT_FOUND"

    asyncio.run(main())
