import { defineConfig } from 'vite';

// Served by the server under /console/ (packages/server/src/gateway/console-static.ts); index.html
// also at /. Hashed file names under assets/ are cached for a year.
export default defineConfig({
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 800 },
});
