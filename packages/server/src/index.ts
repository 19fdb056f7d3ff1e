export { buildApp } from './gateway/app.ts';
export { parseServeFlags, type RunningServer, serve, startServer } from './main.ts';
export { createPlatform, type Platform } from './platform.ts';
