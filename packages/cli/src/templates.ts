/**
 * What `faas init` writes for each runtime: a handler, its faas.json, a test that runs the handler
 * locally with the runtime's own tools, and a README. Each deploys and answers as written
 * (test/cli/init.test.ts deploys and invokes every one).
 */

import { WASM_TEMPLATE_MODULE, WASM_TEMPLATE_TEST, WASM_TEMPLATE_WAT } from './wasm-template.ts';

export const INIT_RUNTIMES = ['js', 'ts', 'node', 'python', 'go', 'wasm', 'image'] as const;
export type InitRuntime = (typeof INIT_RUNTIMES)[number];

export interface Template {
  /** Text, or bytes (a built wasm module). */
  files: Record<string, string | Uint8Array>;
  /** How to run the template's test, for the README and the CLI's closing lines. */
  testCommand: string;
}

const JS_HANDLER = `// Called with the event (JSON, text or bytes) and a context; returns the result.
// Declared routes send an HTTP event: { method, path, params, query, headers, body }.
export default async function handler(event, context) {
  const name = event?.params?.name ?? event?.name ?? 'world';
  context.log.info(\`greeting \${name}\`);
  return { message: \`Hello, \${name}!\` };
}
`;

const JS_TEST = (file: string) => `import assert from 'node:assert/strict';
import { test } from 'node:test';
import handler from './${file}';

const context = { invocationId: 'local', functionName: 'test', version: 0, log: { info: () => {} } };

test('greets by name', async () => {
  assert.deepEqual(await handler({ name: 'Ada' }, context), { message: 'Hello, Ada!' });
});

test('greets the name of a route', async () => {
  assert.deepEqual(await handler({ params: { name: 'Bob' } }, context), { message: 'Hello, Bob!' });
});
`;

const TS_HANDLER = `// \`import type\` is erased when the function is bundled: the server needs no package for it.
// For editor types: npm install the @faas/sdk tarball (see the faas repository's README).
import type { Handler } from '@faas/sdk';

interface Greeting {
  message: string;
}

type Event = { name?: string; params?: { name?: string } } | undefined;

const handler: Handler<Event, Greeting> = async (event, context) => {
  const name = event?.params?.name ?? event?.name ?? 'world';
  context.log.info(\`greeting \${name}\`);
  return { message: \`Hello, \${name}!\` };
};

export default handler;
`;

const TS_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import handler from './index.ts';

// Only what the handler uses; the platform passes the whole context.
const context = { invocationId: 'local', functionName: 'test', version: 0, log: { info: () => {} } } as never;

test('greets by name', async () => {
  assert.deepEqual(await handler({ name: 'Ada' }, context), { message: 'Hello, Ada!' });
});

test('greets the name of a route', async () => {
  assert.deepEqual(await handler({ params: { name: 'Bob' } }, context), { message: 'Hello, Bob!' });
});
`;

const PY_HANDLER = `"""Called with the event (JSON, text or bytes) and a context; returns the result."""


def handler(event, context):
    params = event.get("params") or {} if isinstance(event, dict) else {}
    name = params.get("name") or (event.get("name") if isinstance(event, dict) else None) or "world"
    print(f"greeting {name}")
    return {"message": f"Hello, {name}!"}
`;

const PY_TEST = `import unittest

from main import handler


class HandlerTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(handler({"name": "Ada"}, None), {"message": "Hello, Ada!"})

    def test_greets_the_name_of_a_route(self):
        self.assertEqual(handler({"params": {"name": "Bob"}}, None), {"message": "Hello, Bob!"})


if __name__ == "__main__":
    unittest.main()
`;

const GO_HANDLER = `package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
)

// Called with the event (JSON) and a context that ends at the invocation's deadline; returns the
// result. Declared routes send an HTTP event: { method, path, params, query, headers, body }.
func Handler(ctx context.Context, event json.RawMessage) (any, error) {
	var in struct {
		Name   string \`json:"name"\`
		Params struct {
			Name string \`json:"name"\`
		} \`json:"params"\`
	}
	// Events that are not an object (a string, bytes) greet the world.
	_ = json.Unmarshal(event, &in)
	name := in.Params.Name
	if name == "" {
		name = in.Name
	}
	if name == "" {
		name = "world"
	}
	log.Printf("greeting %s", name)
	return map[string]string{"message": fmt.Sprintf("Hello, %s!", name)}, nil
}
`;

const GO_TEST = `package main

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

func greet(t *testing.T, event string) any {
	t.Helper()
	result, err := Handler(context.Background(), json.RawMessage(event))
	if err != nil {
		t.Fatal(err)
	}
	return result
}

func TestGreetsByName(t *testing.T) {
	want := map[string]string{"message": "Hello, Ada!"}
	if got := greet(t, \`{"name":"Ada"}\`); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestGreetsTheNameOfARoute(t *testing.T) {
	want := map[string]string{"message": "Hello, Bob!"}
	if got := greet(t, \`{"params":{"name":"Bob"}}\`); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
`;

const IMAGE_DOCKERFILE = `# Built by \`faas deploy\` in the server's Docker Engine. No registry is reachable, so the image
# starts from one the platform builds: FAAS_PYTHON_IMAGE (Debian 12's python3), FAAS_NODE_IMAGE
# (Node 24) or FAAS_BASE_IMAGE (Debian 12 minbase, apt works against Debian's mirror).
ARG FAAS_PYTHON_IMAGE
FROM \${FAAS_PYTHON_IMAGE}
COPY main.py /app/main.py
`;

const IMAGE_HANDLER = `"""An image function: the event is on stdin (JSON, or text), the result is what it prints on
stdout (JSON when it parses), lines on stderr are its logs and a non-zero exit fails the call.
Declared routes send an HTTP event: { method, path, params, query, headers, body }."""

import json
import sys


def handle(event):
    params = (event.get("params") or {}) if isinstance(event, dict) else {}
    name = params.get("name") or (event.get("name") if isinstance(event, dict) else None) or "world"
    print(f"greeting {name}", file=sys.stderr)
    return {"message": f"Hello, {name}!"}


def main():
    raw = sys.stdin.read()
    try:
        event = json.loads(raw) if raw.strip() else None
    except ValueError:
        event = raw
    json.dump(handle(event), sys.stdout)


if __name__ == "__main__":
    main()
`;

const IMAGE_TEST = `import io
import json
import unittest
from unittest import mock

from main import handle, main


class HandlerTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(handle({"name": "Ada"}), {"message": "Hello, Ada!"})

    def test_greets_the_name_of_a_route(self):
        self.assertEqual(handle({"params": {"name": "Bob"}}), {"message": "Hello, Bob!"})

    def test_reads_stdin_and_writes_stdout(self):
        out = io.StringIO()
        with mock.patch("sys.stdin", io.StringIO('{"name": "Ada"}')), mock.patch("sys.stdout", out):
            main()
        self.assertEqual(json.loads(out.getvalue()), {"message": "Hello, Ada!"})


if __name__ == "__main__":
    unittest.main()
`;

function manifest(name: string, runtime: InitRuntime, handler: string | string[]): string {
  const spec = {
    name,
    runtime,
    // An image function has no handler: it runs a command in its image (built from the Dockerfile).
    ...(runtime === 'image' ? { command: handler } : { handler }),
    description: `${name}: made by faas init`,
    timeoutMs: 10_000,
    memoryMb: 128,
    routes: [`GET /${name}/:name`],
  };
  return `${JSON.stringify(spec, null, 2)}\n`;
}

function readme(name: string, runtime: InitRuntime, entry: string, testCommand: string): string {
  const rebuild =
    runtime === 'wasm'
      ? `
\`main.wasm\` is built from \`main.wat\`: after a change, \`wat2wasm main.wat -o main.wasm\` (Debian
and Ubuntu: \`apt-get install wabt\`). Any WASI preview 1 command works in its place, such as
\`clang --target=wasm32-wasi -O2 -o main.wasm main.c\` (Debian: clang, lld, wasi-libc); the
event is on stdin, the result on stdout, logs on stderr (docs/runtimes/wasm.md).
`
      : runtime === 'image'
        ? `
\`faas deploy\` builds the \`Dockerfile\` in the Docker Engine the server uses (\`DOCKER_HOST\`, else
\`/var/run/docker.sock\`: run it on the server's machine) as \`faas-fn/${name}:<hash of the folder>\`,
and deploys that image with the \`command\` of \`faas.json\` (docs/cli.md). Each call runs in a fresh
container: the event on stdin, the result on stdout, logs on stderr (docs/runtimes/container.md).
`
        : '';
  return `# ${name}

${runtime === 'image' ? 'An' : 'A'} \`${runtime}\` function made by \`faas init\`. The handler is in \`${entry}\`; \`faas.json\`
holds its settings (docs/cli.md lists the fields).

\`\`\`sh
${testCommand}                          # the handler's tests, locally
faas deploy                             # creates the function, or a new version of it
faas invoke ${name} '{"name":"Ada"}'    # {"message":"Hello, Ada!"}
curl -H "Authorization: Bearer $FAAS_API_KEY" "$FAAS_URL/${name}/Bob"   # its route: {"message":"Hello, Bob!"}
faas logs ${name}
\`\`\`

The route needs a key of the function's project, as above; \`"public": true\` in \`faas.json\`
opens it to anyone (docs/security.md).
${rebuild}`;
}

export function template(name: string, runtime: InitRuntime): Template {
  switch (runtime) {
    case 'js': {
      const testCommand = 'node --test';
      return {
        testCommand,
        files: {
          'index.js': JS_HANDLER,
          'index.test.js': JS_TEST('index.js'),
          'package.json': `${JSON.stringify({ name, private: true, type: 'module', scripts: { test: 'node --test' } }, null, 2)}\n`,
          'faas.json': manifest(name, runtime, 'index.default'),
          'README.md': readme(name, runtime, 'index.js', testCommand),
        },
      };
    }
    case 'ts': {
      const testCommand = 'node --test   # Node 23.6 or later';
      return {
        testCommand,
        files: {
          'index.ts': TS_HANDLER,
          'index.test.ts': TS_TEST,
          'package.json': `${JSON.stringify({ name, private: true, type: 'module', scripts: { test: 'node --test' } }, null, 2)}\n`,
          'faas.json': manifest(name, runtime, 'index.default'),
          'README.md': readme(name, runtime, 'index.ts', testCommand),
        },
      };
    }
    case 'node': {
      const testCommand = 'node --test';
      return {
        testCommand,
        files: {
          'index.mjs': JS_HANDLER,
          'index.test.mjs': JS_TEST('index.mjs'),
          'package.json': `${JSON.stringify({ name, private: true, type: 'module', scripts: { test: 'node --test' }, dependencies: {} }, null, 2)}\n`,
          'faas.json': manifest(name, runtime, 'index.default'),
          'README.md': readme(name, runtime, 'index.mjs', testCommand),
        },
      };
    }
    case 'python': {
      const testCommand = 'python3 -m unittest';
      return {
        testCommand,
        files: {
          'main.py': PY_HANDLER,
          'test_main.py': PY_TEST,
          'requirements.txt': '',
          'faas.json': manifest(name, runtime, 'main.handler'),
          'README.md': readme(name, runtime, 'main.py', testCommand),
        },
      };
    }
    case 'wasm': {
      const testCommand = 'node --test';
      return {
        testCommand,
        files: {
          'main.wat': WASM_TEMPLATE_WAT,
          'main.wasm': WASM_TEMPLATE_MODULE,
          'main.test.mjs': WASM_TEMPLATE_TEST,
          'package.json': `${JSON.stringify({ name, private: true, type: 'module', scripts: { test: 'node --test' } }, null, 2)}\n`,
          'faas.json': manifest(name, runtime, 'main._start'),
          'README.md': readme(name, runtime, 'main.wat', testCommand),
        },
      };
    }
    case 'image': {
      const testCommand = 'python3 -m unittest';
      return {
        testCommand,
        files: {
          Dockerfile: IMAGE_DOCKERFILE,
          'main.py': IMAGE_HANDLER,
          'test_main.py': IMAGE_TEST,
          'faas.json': manifest(name, runtime, ['python3', '/app/main.py']),
          'README.md': readme(name, runtime, 'main.py', testCommand),
        },
      };
    }
    case 'go': {
      // Built at deploy with Go 1.19 and no module proxy: modules go in vendor/ (go mod vendor).
      const testCommand = 'go test';
      return {
        testCommand,
        files: {
          'main.go': GO_HANDLER,
          'main_test.go': GO_TEST,
          'go.mod': `module ${name}\n\ngo 1.19\n`,
          'faas.json': manifest(name, runtime, 'main.Handler'),
          'README.md': readme(name, runtime, 'main.go', testCommand),
        },
      };
    }
  }
}
