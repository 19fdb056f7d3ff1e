// Instances through gateways: made on a worker and pinned there, every gateway routing each call
// for one to its worker; a project sees only its own; an instance whose worker died is `lost`;
// a snapshot taken on one worker restores on another; a console session and a stream ticket from one
// gateway work on the other.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from '../../packages/server/src/queue/redis/test-support.ts';
import {
  CLUSTER_SECRET,
  type ClusterNode,
  clusterSkipReason,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.ts';
import { engineSkipReason, ownedContainers, removeContainers } from '../support/engine.ts';
import { ADMIN_KEY, developerKeyOf, request, waitFor } from '../support/server.ts';
import { upgradeStatus } from '../support/upgrade.ts';

const skip = clusterSkipReason() || engineSkipReason();
/** The workers' heartbeat timeout here: a dead one is out of the registry within it. */
const WORKER_TIMEOUT_MS = 2_000;

interface View {
  id: string;
  status: string;
  reason: string | null;
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe('instances through gateways', { skip }, () => {
  let cluster: TestCluster;
  let gateways: ClusterNode[];
  let workers: ClusterNode[];
  let teamA: string;
  let teamB: string;
  const settings = { FAAS_WORKER_TIMEOUT_MS: String(WORKER_TIMEOUT_MS) };

  const via = (node: ClusterNode, path: string, init: Parameters<typeof request>[2] = {}) =>
    request(node.url, path, { key: teamA, ...init });
  const create = async (node: ClusterNode, key = teamA) => {
    const res = await request(node.url, '/api/v1/instances', { method: 'POST', key, json: {} });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as View;
  };
  /** The worker that holds the instance: asked directly, with the platform admin's key. */
  const holderOf = async (id: string) => {
    const found: ClusterNode[] = [];
    for (const worker of workers) {
      const res = await request(worker.url, `/api/v1/instances/${id}`, { key: ADMIN_KEY });
      if (res.status === 200) found.push(worker);
      else assert.equal(res.status, 404, await res.text());
    }
    assert.equal(found.length, 1, `instance ${id} is on exactly one worker`);
    return found[0] as ClusterNode;
  };
  const exec = (node: ClusterNode, id: string, command: string, key = teamA) =>
    request(node.url, `/api/v1/instances/${id}/exec`, { method: 'POST', key, json: { command } });

  before(async () => {
    cluster = await startTestCluster();
    gateways = [await cluster.start('gateway', settings), await cluster.start('gateway', settings)];
    workers = [await cluster.start('worker', settings), await cluster.start('worker', settings)];
    const [g1] = gateways as [ClusterNode];
    teamA = await developerKeyOf(g1.url, 'team-a');
    teamB = await developerKeyOf(g1.url, 'team-b');
  });
  after(async () => {
    await cluster?.close();
  });

  it('routes every call for an instance to its worker, from either gateway', async () => {
    const [g1, g2] = gateways as [ClusterNode, ClusterNode];
    const made = await create(g1);
    assert.equal(made.status, 'running');
    const holder = await holderOf(made.id);

    const wrote = await exec(g2, made.id, 'echo -n pinned > /workspace/note; echo $((6*7))');
    assert.equal(wrote.status, 200, await wrote.clone().text());
    assert.equal(((await wrote.json()) as { stdout: string }).stdout, '42\n');
    const read = await via(g1, `/api/v1/instances/${made.id}/files?path=note`);
    assert.equal(read.status, 200);
    assert.equal(await read.text(), 'pinned');
    const upload = await via(g2, `/api/v1/instances/${made.id}/files?path=up.bin`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from([0, 1, 2, 255]),
    });
    assert.equal(upload.status, 201, await upload.clone().text());
    const sum = await exec(g1, made.id, 'od -An -tu1 /workspace/up.bin | tr -s " "');
    assert.equal(((await sum.json()) as { stdout: string }).stdout.trim(), '0 1 2 255');

    const head = await via(g1, `/api/v1/instances/${made.id}/files?path=note`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    for (const gateway of gateways) {
      const got = await via(gateway, `/api/v1/instances/${made.id}`);
      assert.equal(got.status, 200);
      assert.equal(((await got.json()) as View).status, 'running');
    }
    // The SSE stream comes through the gateway as the worker sends it.
    const aborter = new AbortController();
    const events = await via(g2, `/api/v1/instances/${made.id}/events`, { signal: aborter.signal });
    assert.equal(events.status, 200);
    assert.match(events.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = (events.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    assert.match(text, /^event: state\n/);
    aborter.abort();

    // The WebSocket stream too: events out, commands in, through the other gateway.
    const socket = new WebSocket(`${g2.url.replace('http', 'ws')}/api/v1/instances/${made.id}/stream`, {
      headers: { authorization: `Bearer ${teamA}` },
    } as never);
    const received: Array<{ type: string; data?: string }> = [];
    socket.addEventListener('message', (m) => received.push(JSON.parse(String(m.data))));
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve());
      socket.addEventListener('error', () => reject(new Error('the WebSocket through the gateway failed')));
    });
    await waitFor(async () => (received.some((e) => e.type === 'state') ? true : undefined));
    socket.send(JSON.stringify({ type: 'exec', command: 'echo through-ws' }));
    await waitFor(async () =>
      received.some((e) => e.type === 'stdout' && (e.data ?? '').includes('through-ws')) ? true : undefined,
    );
    socket.close();
    // Another project's key cannot open it (the instance is not found for it).
    const refused = await new Promise<string>((resolve) => {
      const other = new WebSocket(`${g1.url.replace('http', 'ws')}/api/v1/instances/${made.id}/stream`, {
        headers: { authorization: `Bearer ${teamB}` },
      } as never);
      other.addEventListener('open', () => resolve('open'));
      other.addEventListener('error', () => resolve('refused'));
    });
    assert.equal(refused, 'refused');

    const listed = await via(g2, '/api/v1/instances');
    assert.ok(((await listed.json()) as { items: View[] }).items.some((i) => i.id === made.id));
    // Still on the worker that made it.
    assert.equal((await holderOf(made.id)).url, holder.url);

    // A change made through a gateway is in the audit trail once, with the caller's key.
    const audit = await waitFor(async () => {
      const res = await request(g1.url, '/api/v1/audit?action=POST%20%2Fapi%2Fv1%2Finstances%2F%3Aid%2Fexec');
      const items = ((await res.json()) as { items: Array<{ target?: string; actor: { keyName: string } }> })
        .items;
      return items.filter((e) => e.target === `instances/${made.id}`).length >= 2 ? items : undefined;
    });
    const mine = audit.filter((e) => e.target === `instances/${made.id}`);
    assert.equal(mine.length, 2);
    assert.ok(mine.every((e) => e.actor.keyName === 'team-a-dev'));

    const gone = await via(g2, `/api/v1/instances/${made.id}`, { method: 'DELETE' });
    assert.equal(gone.status, 204);
    assert.equal((await via(g1, `/api/v1/instances/${made.id}`)).status, 404);
  });

  it('shares console sessions and stream tickets between gateways: a ticket from one opens the stream on the other once', async () => {
    const [g1, g2] = gateways as [ClusterNode, ClusterNode];
    const signIn = await request(g1.url, '/api/v1/session', {
      key: null,
      method: 'POST',
      json: { key: teamA },
    });
    assert.equal(signIn.status, 201, await signIn.clone().text());
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const { csrfToken } = (await signIn.json()) as { csrfToken: string };
    const browser = (node: ClusterNode, path: string, init: Parameters<typeof request>[2] = {}) =>
      request(node.url, path, {
        ...init,
        key: null,
        headers: { cookie, 'x-csrf-token': csrfToken, ...(init.headers as Record<string, string>) },
      });
    const onG2 = await browser(g2, '/api/v1/session');
    assert.equal(onG2.status, 200, 'signed in on g1, known on g2');

    const made = await create(g1);
    const issue = async (node: ClusterNode, id = made.id) => {
      const res = await browser(node, `/api/v1/instances/${id}/stream-ticket`, { method: 'POST' });
      assert.equal(res.status, 201, await res.clone().text());
      return (await res.json()) as { ticket: string; url: string };
    };
    const first = await issue(g1);
    assert.equal(
      await upgradeStatus(`${g2.url}${first.url}`),
      101,
      'a ticket from g1 opens the stream on g2',
    );
    assert.equal(await upgradeStatus(`${g2.url}${first.url}`), 401, 'once');
    assert.equal(await upgradeStatus(`${g1.url}${first.url}`), 401, 'and not on g1 after');
    // The same ticket presented to both gateways at once opens one stream.
    const second = await issue(g2);
    const both = await Promise.all([
      upgradeStatus(`${g1.url}${second.url}`),
      upgradeStatus(`${g2.url}${second.url}`),
    ]);
    assert.deepEqual(both.sort(), [101, 401]);
    // No ticket for an instance the gateway does not know, nor for another project's.
    const unknown = await browser(g2, '/api/v1/instances/ins_nope/stream-ticket', { method: 'POST' });
    assert.equal(unknown.status, 404);
    const theirs = await create(g1, teamB);
    const foreign = await browser(g2, `/api/v1/instances/${theirs.id}/stream-ticket`, { method: 'POST' });
    assert.equal(foreign.status, 404);

    const out = await browser(g2, '/api/v1/session', { method: 'DELETE' });
    assert.equal(out.status, 204);
    assert.equal((await browser(g1, '/api/v1/session')).status, 401, 'signed out on g2, refused on g1');
    assert.equal(
      (await browser(g1, `/api/v1/instances/${made.id}/stream-ticket`, { method: 'POST' })).status,
      401,
    );
    for (const [id, key] of [
      [made.id, teamA],
      [theirs.id, teamB],
    ] as const) {
      assert.equal((await request(g1.url, `/api/v1/instances/${id}`, { method: 'DELETE', key })).status, 204);
    }
  });

  it("makes execute's persistent instance on a worker and pins it like any other", async () => {
    const [g1, g2] = gateways as [ClusterNode, ClusterNode];
    const res = await via(g1, '/api/v1/execute/advanced', {
      method: 'POST',
      json: { mode: 'persistent', command: 'sleep 600', files: { 'in.txt': 'given' } },
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { instance_id: id } = (await res.json()) as { instance_id: string };
    await holderOf(id);
    const read = await exec(g2, id, 'cat /workspace/in.txt');
    assert.equal(((await read.json()) as { stdout: string }).stdout, 'given');
    // The other modes still run through the execute hop.
    const once = await via(g2, '/api/v1/execute/advanced', {
      method: 'POST',
      json: { mode: 'ephemeral', command: 'echo hi' },
    });
    assert.equal(((await once.json()) as { stdout: string }).stdout, 'hi\n');
    assert.equal((await via(g2, `/api/v1/instances/${id}`, { method: 'DELETE' })).status, 204);
  });

  it("shows and lets touch only the caller's project's instances", async () => {
    const [g1, g2] = gateways as [ClusterNode, ClusterNode];
    const ofA = await create(g1, teamA);
    const ofB = await create(g2, teamB);
    const listOf = async (key: string) =>
      ((await (await request(g1.url, '/api/v1/instances', { key })).json()) as { items: View[] }).items.map(
        (i) => i.id,
      );
    assert.deepEqual(await listOf(teamB), [ofB.id]);
    assert.deepEqual(await listOf(teamA), [ofA.id]);
    for (const [method, path, json] of [
      ['GET', `/api/v1/instances/${ofA.id}`, undefined],
      ['POST', `/api/v1/instances/${ofA.id}/exec`, { command: 'true' }],
      ['GET', `/api/v1/instances/${ofA.id}/files?path=.`, undefined],
      ['GET', `/api/v1/instances/${ofA.id}/events`, undefined],
      ['POST', '/api/v1/snapshots', { instance_id: ofA.id }],
      ['DELETE', `/api/v1/instances/${ofA.id}`, undefined],
    ] as const) {
      const res = await request(g2.url, path, { method, key: teamB, ...(json ? { json } : {}) });
      assert.equal(res.status, 404, `${method} ${path}: ${await res.clone().text()}`);
      assert.equal(((await res.json()) as ErrorBody).error.code, 'FAAS_ERR_NOT_FOUND');
    }
    assert.equal((await exec(g1, ofA.id, 'true')).status, 200);
    for (const [key, id] of [
      [teamA, ofA.id],
      [teamB, ofB.id],
    ] as const) {
      assert.equal((await request(g1.url, `/api/v1/instances/${id}`, { method: 'DELETE', key })).status, 204);
    }
  });

  it('finishes a delete whose entry was left behind: made again, it removes the entry', async () => {
    const [g1, g2] = gateways as [ClusterNode, ClusterNode];
    const made = await create(g1, teamA);
    // What a delete leaves when Redis fails after the container went: the entry alone.
    const redis = new Redis(TEST_REDIS_URL as string);
    const key = `{${cluster.env.FAAS_QUEUE_PREFIX}}:cluster:instances`;
    const ghost = 'inst_01kq0000000000000000000000';
    try {
      await redis.hset(key, ghost, (await redis.hget(key, made.id)) as string);
      const asB = await request(g2.url, `/api/v1/instances/${ghost}`, { method: 'DELETE', key: teamB });
      assert.equal(asB.status, 404, "another project's key does not remove it");
      const asA = await request(g2.url, `/api/v1/instances/${ghost}`, { method: 'DELETE', key: teamA });
      assert.equal(asA.status, 204, await asA.text());
      assert.equal(await redis.hget(key, ghost), null);
      assert.equal(
        (await request(g1.url, `/api/v1/instances/${made.id}`, { method: 'DELETE', key: teamA })).status,
        204,
      );
    } finally {
      await redis.hdel(key, ghost);
      redis.disconnect();
    }
  });

  it("counts a project's instances quota over every worker", async () => {
    const [g1] = gateways as [ClusterNode];
    const patched = await request(g1.url, '/api/v1/projects/team-b', {
      method: 'PATCH',
      json: { quotas: { instances: 1 } },
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    const first = await create(g1, teamB);
    const holder = await holderOf(first.id);
    const other = workers.find((w) => w !== holder) as ClusterNode;
    // On the worker that does not hold the first one (asked directly: it serves the user API too),
    // once the quota reached it: the project's instance elsewhere counts.
    const refused = await waitFor(async () => {
      const res = await request(other.url, '/api/v1/instances', { method: 'POST', key: teamB, json: {} });
      if (res.status === 201) {
        const stray = (await res.json()) as View;
        await request(other.url, `/api/v1/instances/${stray.id}`, { method: 'DELETE', key: teamB });
        return undefined;
      }
      return res;
    });
    assert.equal(refused.status, 403, await refused.clone().text());
    assert.equal(((await refused.json()) as ErrorBody).error.code, 'FAAS_ERR_QUOTA_EXCEEDED');

    // A fork spread over both workers is counted whole: each worker alone would see room for
    // its share.
    const snap = await request(g1.url, '/api/v1/snapshots', {
      method: 'POST',
      key: teamB,
      json: { instance_id: first.id },
    });
    assert.equal(snap.status, 201, await snap.clone().text());
    const snapshotId = ((await snap.json()) as { id: string }).id;
    await request(g1.url, '/api/v1/projects/team-b', { method: 'PATCH', json: { quotas: { instances: 3 } } });
    const tooMany = await request(g1.url, `/api/v1/snapshots/${snapshotId}/fork`, {
      method: 'POST',
      key: teamB,
      json: { count: 3 },
    });
    assert.equal(tooMany.status, 403, await tooMany.clone().text());
    const listed = await request(g1.url, '/api/v1/instances', { key: teamB });
    assert.deepEqual(
      ((await listed.json()) as { items: View[] }).items.map((i) => i.id),
      [first.id],
    );
    assert.equal(
      (await request(g1.url, `/api/v1/instances/${first.id}`, { method: 'DELETE', key: teamB })).status,
      204,
    );
    await request(g1.url, '/api/v1/projects/team-b', {
      method: 'PATCH',
      json: { quotas: { instances: null } },
    });
  });

  it("never lets creates racing on two workers pass a project's instances quota", async () => {
    const [g1] = gateways as [ClusterNode];
    // Every worker's copy of the quota, first 0 then 2, seen in what it answers.
    const heard = async (instances: number, status: number) => {
      await request(g1.url, '/api/v1/projects/team-b', { method: 'PATCH', json: { quotas: { instances } } });
      for (const w of workers) {
        await waitFor(async () => {
          const res = await request(w.url, '/api/v1/instances', { method: 'POST', key: teamB, json: {} });
          if (res.status === 201) {
            const { id } = (await res.json()) as View;
            await request(w.url, `/api/v1/instances/${id}`, { method: 'DELETE', key: teamB });
          }
          return res.status === status ? true : undefined;
        });
      }
    };
    await heard(0, 403);
    await heard(2, 201);
    try {
      // Each worker asked directly, two at a time: each alone would see room for both of its own.
      const answers = await Promise.all(
        [...workers, ...workers].map((w) =>
          request(w.url, '/api/v1/instances', { method: 'POST', key: teamB, json: {} }),
        ),
      );
      const made = answers.filter((res) => res.status === 201);
      const refused = answers.filter((res) => res.status !== 201);
      assert.equal(made.length, 2, (await Promise.all(answers.map((r) => r.clone().text()))).join('\n'));
      for (const res of refused)
        assert.equal(((await res.json()) as ErrorBody).error.code, 'FAAS_ERR_QUOTA_EXCEEDED');
      for (const res of made) {
        const { id } = (await res.json()) as View;
        assert.equal(
          (await via(g1, `/api/v1/instances/${id}`, { method: 'DELETE', key: teamB })).status,
          204,
        );
      }
    } finally {
      await request(g1.url, '/api/v1/projects/team-b', {
        method: 'PATCH',
        json: { quotas: { instances: null } },
      });
    }
  });

  it('never sends the cluster secret to a host the caller names in an absolute-form request', async () => {
    const [g1] = gateways as [ClusterNode];
    const seen: string[] = [];
    const trap = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"id":"trap"}');
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    const trapPort = (trap.address() as AddressInfo).port;
    try {
      const gatewayUrl = new URL(g1.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(gatewayUrl.port), gatewayUrl.hostname, () => {
          socket.write(
            `POST http://127.0.0.1:${trapPort}/api/v1/instances HTTP/1.1\r\nHost: 127.0.0.1:${trapPort}\r\n` +
              `Authorization: Bearer ${teamA}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
          );
        });
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk.toString();
        });
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      assert.deepEqual(seen, []);
      assert.match(answer, /^HTTP\/1\.1 201/);
      const made = JSON.parse(
        answer.slice(answer.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, ''),
      ) as View;
      await holderOf(made.id);
      assert.equal((await via(g1, `/api/v1/instances/${made.id}`, { method: 'DELETE' })).status, 204);
    } finally {
      trap.close();
    }
  });

  it('takes a principal only with the cluster secret, and never a key on the internal API', async () => {
    const worker = workers[0] as ClusterNode;
    const admin = Buffer.from(
      JSON.stringify({
        identity: {
          keyId: 'key_forged',
          project: 'team-a',
          role: 'admin',
          scopes: ['sandboxes:read', 'sandboxes:write'],
          allProjects: true,
        },
        project: 'team-a',
        projectScope: null,
      }),
    ).toString('base64url');
    // A user's key beside a forged principal: refused, not run as the key nor as the principal.
    const forged = await request(worker.url, '/api/v1/instances', {
      key: teamB,
      headers: { 'x-faas-cluster-principal': admin },
    });
    assert.equal(forged.status, 401);
    assert.equal(((await forged.json()) as ErrorBody).error.code, 'FAAS_ERR_UNAUTHORIZED');
    const bare = await request(worker.url, '/api/v1/instances', {
      key: null,
      headers: { 'x-faas-cluster-principal': admin },
    });
    assert.equal(bare.status, 401);
    const wrongSecret = await request(worker.url, '/api/v1/instances', {
      key: null,
      headers: { authorization: 'Cluster not-the-secret', 'x-faas-cluster-principal': admin },
    });
    assert.equal(wrongSecret.status, 401);
    const garbage = await request(worker.url, '/api/v1/instances', {
      key: null,
      headers: { authorization: `Cluster ${CLUSTER_SECRET}`, 'x-faas-cluster-principal': 'e30' },
    });
    assert.equal(garbage.status, 401);
    // The secret alone opens no user route.
    const secretOnly = await request(worker.url, '/api/v1/instances', {
      key: null,
      headers: { authorization: `Cluster ${CLUSTER_SECRET}` },
    });
    assert.equal(secretOnly.status, 401);
    // A user's key (even the platform admin's) never opens the internal API.
    for (const key of [teamA, ADMIN_KEY]) {
      const internal = await request(worker.url, '/internal/v1/execute', {
        method: 'POST',
        key,
        json: { request: { project: 'team-a', command: 'true' }, mode: 'ephemeral', stream: false },
      });
      assert.equal(internal.status, 401);
    }
    // With the secret, a principal's scopes still bound it: a viewer's cannot make an instance.
    const viewer = Buffer.from(
      JSON.stringify({
        identity: {
          keyId: 'k',
          project: 'team-a',
          role: 'viewer',
          scopes: ['sandboxes:read'],
          allProjects: false,
        },
        project: 'team-a',
        projectScope: 'team-a',
      }),
    ).toString('base64url');
    const denied = await request(worker.url, '/api/v1/instances', {
      method: 'POST',
      key: null,
      json: {},
      headers: { authorization: `Cluster ${CLUSTER_SECRET}`, 'x-faas-cluster-principal': viewer },
    });
    assert.equal(denied.status, 403);
  });

  it('gives up a call to a worker that hangs once it is out of the cluster, and serves it again when it is back', async () => {
    const [g1, g2] = gateways as [ClusterNode, ClusterNode];
    const made = await create(g1);
    const holder = await holderOf(made.id);
    const running = exec(g2, made.id, 'sleep 30; echo late');
    // The exec reached the worker: then the worker stops (not dead: its sockets stay open).
    await waitFor(async () => {
      const view = (await (await via(g1, `/api/v1/instances/${made.id}`)).json()) as {
        processes?: unknown[];
      };
      return view.processes?.length ? true : undefined;
    });
    holder.child.kill('SIGSTOP');
    try {
      const res = await running;
      assert.equal(res.status, 502, await res.clone().text());
      assert.equal(((await res.json()) as ErrorBody).error.code, 'FAAS_ERR_WORKER_LOST');
      const view = (await (await via(g2, `/api/v1/instances/${made.id}`)).json()) as View;
      assert.equal(view.status, 'lost');
    } finally {
      holder.child.kill('SIGCONT');
    }
    // Its heartbeats resume: the instance answers again, as it was.
    await waitFor(async () => {
      const view = (await (await via(g2, `/api/v1/instances/${made.id}`)).json()) as View;
      return view.status === 'running' ? true : undefined;
    });
    const again = await exec(g1, made.id, 'echo back');
    assert.equal(((await again.json()) as { stdout: string }).stdout, 'back\n');
    assert.equal((await via(g1, `/api/v1/instances/${made.id}`, { method: 'DELETE' })).status, 204);
  });

  it('restores a memory snapshot where a standby of it waits', async () => {
    const [g1, g2] = gateways as [ClusterNode, ClusterNode];
    // Made on the worker a gateway would not pick (made on it directly), so that restores placed
    // by load alone would go to the other one.
    const probe = await create(g1);
    const byLoad = await holderOf(probe.id);
    assert.equal((await via(g1, `/api/v1/instances/${probe.id}`, { method: 'DELETE' })).status, 204);
    const holder = workers.find((w) => w !== byLoad) as ClusterNode;
    const res = await request(holder.url, '/api/v1/instances', {
      method: 'POST',
      key: teamA,
      json: { isolation: 'gvisor', command: 'sleep 600' },
    });
    assert.equal(res.status, 201, await res.clone().text());
    const made = (await res.json()) as View;
    const snap = await via(g2, '/api/v1/snapshots', { method: 'POST', json: { instance_id: made.id } });
    assert.equal(snap.status, 201, await snap.clone().text());
    const snapshotId = ((await snap.json()) as { id: string }).id;
    // Its worker restores a standby of it ahead (and another after each restore) and says so in
    // its heartbeat; each restore goes there, whatever the load scores say (three times: the two
    // workers share this machine's load, so by load alone each would be a coin toss).
    // A heartbeat counts only if sent after the last restore took its standby: one sent just
    // before would still show the standby that restore used.
    let restoredAt = 0;
    for (let i = 0; i < 3; i++) {
      await waitFor(
        async () => {
          const nodes = (await (await request(g1.url, '/api/v1/cluster/nodes')).json()) as {
            items: Array<{ url: string; heartbeatAt: string; standbys?: Record<string, number> }>;
          };
          const node = nodes.items.find((n) => n.url === holder.url);
          const fresh = node !== undefined && Date.parse(node.heartbeatAt) > restoredAt;
          return fresh && (node.standbys?.[snapshotId] ?? 0) > 0 ? true : undefined;
        },
        60_000,
        "the holder's heartbeat to show a standby of the snapshot",
      );
      // The gateways' copies of the registry are re-read twice a second.
      await new Promise((r) => setTimeout(r, 1_000));
      const woken = await via(g2, `/api/v1/snapshots/${snapshotId}/restore`, { method: 'POST' });
      restoredAt = Date.now();
      assert.equal(woken.status, 201, await woken.clone().text());
      const wokenId = ((await woken.json()) as View).id;
      assert.equal((await holderOf(wokenId)).url, holder.url, 'restored where the standby waited');
      assert.equal((await via(g1, `/api/v1/instances/${wokenId}`, { method: 'DELETE' })).status, 204);
    }
    assert.equal((await via(g1, `/api/v1/snapshots/${snapshotId}`, { method: 'DELETE' })).status, 204);
    assert.equal((await via(g1, `/api/v1/instances/${made.id}`, { method: 'DELETE' })).status, 204);
  });

  it('keeps a draining worker in the cluster until its calls end, placing nothing new there', async () => {
    const [g1, g2] = gateways as [ClusterNode, ClusterNode];
    const draining = await cluster.start('worker', settings);
    try {
      const res = await request(draining.url, '/api/v1/instances', { method: 'POST', key: teamA, json: {} });
      assert.equal(res.status, 201, await res.clone().text());
      const made = (await res.json()) as View;
      // A call on its instance runs longer than the heartbeat timeout; SIGTERM comes meanwhile.
      const running = exec(g1, made.id, 'sleep 5; echo done');
      await new Promise((r) => setTimeout(r, 1_000));
      const exited = draining.kill('SIGTERM');
      await waitFor(async () => {
        const nodes = (await (await request(g1.url, '/api/v1/cluster/nodes')).json()) as {
          items: Array<{ url: string; draining?: boolean }>;
        };
        return nodes.items.find((n) => n.url === draining.url)?.draining ? true : undefined;
      });
      // The gateways' copies of the registry are re-read twice a second.
      await new Promise((r) => setTimeout(r, 1_000));
      // On one of the two other workers (holderOf asks those only), none on the draining one.
      const elsewhere = await create(g2);
      await holderOf(elsewhere.id);
      assert.equal((await via(g1, `/api/v1/instances/${elsewhere.id}`, { method: 'DELETE' })).status, 204);
      // Past the heartbeat timeout, the call in flight is not given up: its worker is still in.
      const done = await running;
      assert.equal(done.status, 200, await done.clone().text());
      assert.equal(((await done.json()) as { stdout: string }).stdout, 'done\n');
      // Gone once its last call ended: out of the cluster, its instance lost from then on (its
      // container outlives it), and its entry can be deleted once every gateway's copy says so.
      await exited;
      await waitFor(async () => {
        for (const g of gateways) {
          const got = (await (await via(g, `/api/v1/instances/${made.id}`)).json()) as View;
          if (got.status !== 'lost' || !/out of the cluster/.test(got.reason ?? '')) return undefined;
        }
        return true;
      });
      assert.equal((await via(g1, `/api/v1/instances/${made.id}`, { method: 'DELETE' })).status, 204);
    } finally {
      await draining.kill('SIGKILL');
      removeContainers(ownedContainers(draining.dataDir));
    }
  });

  it('restores a snapshot on another worker, and marks the instances of a killed worker lost', async () => {
    const [g1, g2] = gateways as [ClusterNode, ClusterNode];
    const made = await create(g1);
    const holder = await holderOf(made.id);
    const other = workers.find((w) => w !== holder) as ClusterNode;
    assert.equal((await exec(g2, made.id, 'echo -n kept > /workspace/state')).status, 200);
    const snap = await via(g2, '/api/v1/snapshots', { method: 'POST', json: { instance_id: made.id } });
    assert.equal(snap.status, 201, await snap.clone().text());
    const snapshotId = ((await snap.json()) as { id: string }).id;
    // The snapshot's record is in PostgreSQL: every gateway reads it.
    assert.equal((await via(g1, `/api/v1/snapshots/${snapshotId}`)).status, 200);

    await holder.kill('SIGKILL');
    const started = Date.now();
    // At once (its worker cannot be reached), then for good once its heartbeats ran out; every
    // answer meanwhile is the instance as lost, never an error.
    const lostAs = (reason: RegExp) =>
      waitFor(
        async () => {
          const res = await via(g2, `/api/v1/instances/${made.id}`);
          assert.equal(res.status, 200, `GET of an instance whose worker died: ${res.status}`);
          const view = (await res.json()) as View;
          assert.equal(view.status, 'lost');
          return reason.test(view.reason ?? '') ? view : undefined;
        },
        WORKER_TIMEOUT_MS + 8_000,
        `the instance to be lost (${reason})`,
      );
    await lostAs(/could not be reached|out of the cluster/);
    await lostAs(/out of the cluster/);
    console.log(
      `out of the cluster after ${Date.now() - started} ms (worker timeout ${WORKER_TIMEOUT_MS} ms)`,
    );
    const refused = await exec(g1, made.id, 'true');
    assert.equal(refused.status, 410);
    assert.equal(((await refused.json()) as ErrorBody).error.code, 'FAAS_ERR_INSTANCE_LOST');
    const listed = ((await (await via(g1, '/api/v1/instances')).json()) as { items: View[] }).items;
    assert.equal(listed.find((i) => i.id === made.id)?.status, 'lost');

    // Restore lands on the worker left; the files are there.
    const restored = await via(g1, `/api/v1/snapshots/${snapshotId}/restore`, { method: 'POST' });
    assert.equal(restored.status, 201, await restored.clone().text());
    const copy = (await restored.json()) as View;
    const kept = await exec(g2, copy.id, 'cat /workspace/state');
    assert.equal(((await kept.json()) as { stdout: string }).stdout, 'kept');
    assert.equal(
      (await request(other.url, `/api/v1/instances/${copy.id}`, { key: ADMIN_KEY })).status,
      200,
      'restored on the other worker',
    );

    // The worker comes back as itself without the instance's container: lost, with why.
    removeContainers(ownedContainers(holder.dataDir));
    const back = await cluster.start('worker', settings, holder.dataDir);
    workers = [other, back];
    const marked = await waitFor(async () => {
      const view = (await (await via(g1, `/api/v1/instances/${made.id}`)).json()) as View;
      return /restarted/.test(view.reason ?? '') ? view : undefined;
    });
    assert.equal(marked.status, 'lost');

    // A fork of several spreads over the workers (each instance placed adds one CPU's load to
    // its worker's score: 4 cannot all go to one of two workers on one machine), each with the files.
    await waitFor(async () => {
      const res = await request(g1.url, '/api/v1/cluster/nodes');
      return ((await res.json()) as { items: unknown[] }).items.length === 2 ? true : undefined;
    });
    // The gateways' copies of the registry are re-read twice a second.
    await new Promise((r) => setTimeout(r, 1_000));
    const forked = await via(g2, `/api/v1/snapshots/${snapshotId}/fork`, {
      method: 'POST',
      json: { count: 4 },
    });
    assert.equal(forked.status, 201, await forked.clone().text());
    const forks = ((await forked.json()) as { instances: View[] }).instances;
    assert.equal(forks.length, 4);
    const holders = new Set<string>();
    for (const fork of forks) {
      holders.add((await holderOf(fork.id)).url);
      const read = await exec(g1, fork.id, 'cat /workspace/state');
      assert.equal(((await read.json()) as { stdout: string }).stdout, 'kept');
      assert.equal((await via(g1, `/api/v1/instances/${fork.id}`, { method: 'DELETE' })).status, 204);
    }
    assert.equal(holders.size, 2, 'the forks are on both workers');
    assert.equal((await via(g1, `/api/v1/instances/${made.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await via(g2, `/api/v1/instances/${made.id}`)).status, 404);
    assert.equal((await via(g2, `/api/v1/instances/${copy.id}`, { method: 'DELETE' })).status, 204);
  });
});
