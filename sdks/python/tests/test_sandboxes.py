"""Execute, instances, files, snapshots and the event stream, against a real server and Docker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Dict, List

import pytest
from conftest import ADMIN_KEY, Server, needs_engine

from faas_sdk import AsyncFaaSClient, FaaSClient, FaasApiError

pytestmark = needs_engine


def test_execute_and_its_modes(client: FaaSClient) -> None:
    run = client.execute("cat in.txt; echo \"$A\" >&2; exit 3", files={"in.txt": "from a file\n"}, env={"A": "err"})
    assert (run["stdout"], run["stderr"], run["exit_code"], run["mode"]) == ("from a file\n", "err\n", 3, "ephemeral")
    assert client.execute(["echo", "argv"])["stdout"] == "argv\n"
    with pytest.raises(FaasApiError) as err:
        client.execute("true", image="faas-test/no-such-image:1")
    assert (err.value.status, err.value.code) == (400, "FAAS_ERR_BAD_REQUEST")

    env = {"N": uuid.uuid4().hex}
    miss = client.execute_advanced("cat /proc/sys/kernel/random/uuid", "cached", env=env)
    hit = client.execute_advanced("cat /proc/sys/kernel/random/uuid", "cached", env=env)
    assert (miss["cache"], hit["cache"], hit["stdout"]) == ("miss", "hit", miss["stdout"])


def test_fork_branches_a_checkpointed_run(client: FaaSClient) -> None:
    parent = client.execute_advanced("echo base > /workspace/state", "checkpointed")
    snapshots = [parent["snapshot_id"]]
    try:
        a = client.fork(parent["execution_id"], "echo a >> state; cat state")
        b = client.fork(parent["execution_id"], "echo b >> state; cat state")
        snapshots += [a.get("snapshot_id"), b.get("snapshot_id")]
        assert (a["stdout"], b["stdout"], a["mode"]) == ("base\na\n", "base\nb\n", "branched")
    finally:
        for snapshot in snapshots:
            if snapshot:
                client.delete_snapshot(snapshot)


def test_instance_lifecycle_files_and_snapshots(client: FaaSClient) -> None:
    box = client.create_instance(env={"GREETING": "hi"})
    try:
        assert (box["status"], box["env"]) == ("running", ["GREETING"])
        assert box["id"] in [i["id"] for i in client.list_instances()]
        run = client.exec(box["id"], 'echo "$GREETING $B"; cat; exit 5', env={"B": "there"}, stdin="in")
        assert (run["stdout"], run["exit_code"]) == ("hi there\nin", 5)

        data = bytes(range(256))
        assert client.write_file(box["id"], "data/all.bin", data) == {"path": "/workspace/data/all.bin", "size": 256}
        client.write_file(box["id"], "data/note.txt", "héllo\n")
        assert client.read_file(box["id"], "data/all.bin") == data
        listing = client.list_files(box["id"], "data")
        assert sorted((e["name"], e["size"]) for e in listing["entries"]) == [("all.bin", 256), ("note.txt", 7)]
        with pytest.raises(FaasApiError) as err:
            client.read_file(box["id"], "data")
        assert err.value.code == "FAAS_ERR_BAD_REQUEST"
        with pytest.raises(FaasApiError) as err:
            client.read_file(box["id"], "missing.txt")
        assert (err.value.status, err.value.code) == (404, "FAAS_ERR_NOT_FOUND")

        snapshot = client.create_snapshot(box["id"], "py-test")
        try:
            assert (snapshot["kind"], snapshot["name"], snapshot["instance_id"]) == ("filesystem", "py-test", box["id"])
            assert client.get_snapshot(snapshot["id"])["id"] == snapshot["id"]
            assert [s["id"] for s in client.list_snapshots(instance_id=box["id"])["items"]] == [snapshot["id"]]
            forks = client.fork_snapshot(snapshot["id"], 2)
            try:
                assert len(forks) == 2
                client.write_file(forks[0]["id"], "only-a", "a")
                assert client.read_file(forks[1]["id"], "data/note.txt") == "héllo\n".encode()
                assert client.exec(forks[1]["id"], "test -e only-a")["exit_code"] == 1
            finally:
                for fork in forks:
                    client.delete_instance(fork["id"])
        finally:
            client.delete_snapshot(snapshot["id"])

        assert client.stop_instance(box["id"])["status"] == "stopped"
        with pytest.raises(FaasApiError) as err:
            client.exec(box["id"], "true")
        assert (err.value.status, err.value.code) == (409, "FAAS_ERR_CONFLICT")
        assert client.start_instance(box["id"])["status"] == "running"
    finally:
        client.delete_instance(box["id"])
    with pytest.raises(FaasApiError) as err:
        client.get_instance(box["id"])
    assert err.value.code == "FAAS_ERR_NOT_FOUND"


def test_stream_of_an_instance(server: Server) -> None:
    async def main() -> None:
        client = AsyncFaaSClient(server.url, ADMIN_KEY)
        box = await client.create_instance()
        try:
            events: List[Dict[str, Any]] = []
            async with client.stream(box["id"]) as ws:
                await ws.send({"type": "exec", "command": "echo one; sleep 0.2; echo two; exit 7"})
                started = None
                async for event in ws:
                    events.append(dict(event))
                    if event["type"] == "started":
                        started = event["process"]
                    if event["type"] == "exit" and event.get("process") == started:
                        break
                await ws.send({"type": "signal", "signal": "SIGNOPE"})
                async for event in ws:
                    if event["type"] == "error":
                        assert "SIGNOPE" in event["error"]["message"]
                        break
            assert events[0]["type"] == "state" and events[0]["instance"]["id"] == box["id"]
            out = "".join(e["data"] for e in events if e["type"] == "stdout" and e.get("process") == started)
            assert out == "one\ntwo\n"
            assert events[-1]["code"] == 7
            assert ws.close_code == 1000

            # Iterating without `async with` opens it; an unknown instance is the API's 404.
            with pytest.raises(FaasApiError) as err:
                async for _ in client.stream("inst_unknown"):
                    pass
            assert (err.value.status, err.value.code) == (404, "FAAS_ERR_NOT_FOUND")
        finally:
            await client.delete_instance(box["id"])

    asyncio.run(asyncio.wait_for(main(), 120))


def test_execute_stream_yields_output_then_the_exit(client: FaaSClient) -> None:
    # stdout and stderr are separate pipes: the sleep orders them.
    events = list(client.execute_stream("echo one; sleep 0.3; echo two >&2; exit 4"))
    assert [(e["type"], e.get("data")) for e in events] == [("stdout", "one\n"), ("stderr", "two\n"), ("exit", None)]
    assert events[-1]["exit_code"] == 4
    cached = list(client.execute_stream("echo cached", mode="cached", env={"N": uuid.uuid4().hex}))
    assert cached[-1]["type"] == "exit" and cached[-1]["cache"] == "miss"
    with pytest.raises(FaasApiError) as err:
        list(client.execute_stream("true", image="faas-test/no-such-image:1"))
    assert (err.value.status, err.value.code) == (400, "FAAS_ERR_BAD_REQUEST")
