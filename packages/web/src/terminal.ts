import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { call } from './api.ts';

export interface OpenTerminal {
  close(): void;
}

/**
 * xterm.js over the instance's WebSocket: a shell with a TTY, resized with the element. A browser
 * cannot send Authorization on a WebSocket: it opens with a single-use ticket.
 */
export async function openTerminal(
  parent: HTMLElement,
  instanceId: string,
  onStatus: (text: string) => void,
): Promise<OpenTerminal> {
  const terminal = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false });
  const fit = new FitAddon();
  terminal.loadAddon(fit);
  terminal.open(parent);
  fit.fit();
  const { url } = await call<{ url: string }>(
    `/api/v1/instances/${encodeURIComponent(instanceId)}/stream-ticket`,
    {
      method: 'POST',
    },
  );
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${url}`);
  let shell: number | undefined;
  const send = (command: object) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(command));
  };
  socket.onopen = () => {
    onStatus('connected');
    send({
      type: 'exec',
      command: ['/bin/sh', '-i'],
      tty: true,
      rows: terminal.rows,
      cols: terminal.cols,
      env: { TERM: 'xterm-256color' },
    });
  };
  socket.onmessage = (message) => {
    const event = JSON.parse(String(message.data)) as {
      type: string;
      data?: string;
      process?: number;
      code?: number;
      error?: { message: string };
    };
    if (event.type === 'started') shell = event.process;
    else if (
      (event.type === 'stdout' || event.type === 'stderr') &&
      event.process === shell &&
      event.data !== undefined
    )
      terminal.write(event.data);
    else if (event.type === 'exit' && event.process === shell) {
      terminal.write(`\r\n[exited with ${event.code}]\r\n`);
      onStatus('shell exited');
    } else if (event.type === 'error') terminal.write(`\r\n[${event.error?.message}]\r\n`);
  };
  socket.onclose = (event) => onStatus(`disconnected${event.reason ? `: ${event.reason}` : ''}`);
  const input = terminal.onData((data) =>
    send({ type: 'stdin', data, ...(shell !== undefined ? { process: shell } : {}) }),
  );
  const resized = terminal.onResize(({ rows, cols }) => send({ type: 'resize', rows, cols }));
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(parent);
  terminal.focus();
  return {
    close() {
      observer.disconnect();
      input.dispose();
      resized.dispose();
      socket.close();
      terminal.dispose();
    },
  };
}
