import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** The demo page (web/), built into dist/web and served by the reference server at /. */
export default defineConfig({
  root: fileURLToPath(new URL('./web', import.meta.url)),
  base: './',
  resolve: { conditions: ['@tidewire/source', 'browser', 'module', 'import', 'default'] },
  build: {
    outDir: fileURLToPath(new URL('./dist/web', import.meta.url)),
    emptyOutDir: true,
  },
});
