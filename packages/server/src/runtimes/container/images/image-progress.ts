import type Docker from 'dockerode';

/** Which runtime image a progress event is about. */
export type RuntimeImageName = 'base' | 'node' | 'python' | 'go';

/** One step of `buildRuntimeImages`, for a progress display (`faas images build`). */
export interface ImageBuildProgress {
  image: RuntimeImageName;
  /** `faas/<image>:<content hash>` */
  tag: string;
  /** `cached`: already built, skipped; `step`: a line of build output; `done`: built now. */
  phase: 'cached' | 'start' | 'step' | 'done';
  message: string;
}

export type ImageProgressListener = (event: ImageBuildProgress) => void;

/** Waits for a Docker progress stream (build, import) to end; fails on an `error` event. */
export function followDockerProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onLine: (line: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, output: Array<{ error?: string }>) => {
        const failed = err ?? output.find((event) => event.error !== undefined);
        if (failed) reject(failed instanceof Error ? failed : new Error(String(failed.error)));
        else resolve();
      },
      (event: { stream?: string; status?: string; error?: string }) => {
        const line = (event.stream ?? event.status ?? event.error ?? '').trimEnd();
        if (line.length > 0) onLine(line);
      },
    );
  });
}

/** Whether an image with that tag exists in the engine. */
export async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}
