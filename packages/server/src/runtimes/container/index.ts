/** The container runtime's public surface. */
export {
  ContainerRuntime,
  type ContainerRuntimeOptions,
  createContainerRuntime,
} from './container-runtime.ts';
export { createDockerClient, ENGINE_HINT, pingEngine } from './docker-engine.ts';
export {
  type BuildRuntimeImagesOptions,
  buildRuntimeImages,
  pruneRuntimeImages,
  type RuntimeImageTags,
  runtimeImageTags,
} from './images/build-runtime-images.ts';
export {
  followDockerProgress,
  type ImageBuildProgress,
  type ImageProgressListener,
  imageExists,
} from './images/image-progress.ts';
export { SANDBOX_DEFAULTS, type SandboxRequest, type SandboxResult } from './sandbox/sandbox-pools.ts';
