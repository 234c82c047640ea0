// Small rollup plugins for the embed bundle.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { transform } from 'esbuild';
import ts from 'typescript';

/**
 * The pool finds its worker at `new URL('../worker/inference-worker.js', import.meta.url)`. In a
 * bundle, emit the worker as its own chunk and point that URL at it.
 */
export function bundledWorker({ entry, fileName }) {
  const pattern = /new URL\(\s*(['"])\.\.\/worker\/inference-worker\.js\1\s*,\s*import\.meta\.url\s*\)/;
  return {
    name: 'bundled-worker',
    transform(code) {
      if (!pattern.test(code)) return null;
      const ref = this.emitFile({ type: 'chunk', id: entry, fileName });
      return { code: code.replace(pattern, `new URL(import.meta.ROLLUP_FILE_URL_${ref})`), map: null };
    },
  };
}

/** Copy onnxruntime-web's .wasm binaries next to the bundle (ORT loads them from beside its chunk). */
export function copyOrtWasm({ files, outDir }) {
  const require = createRequire(import.meta.url);
  const ortDir = dirname(require.resolve('onnxruntime-web')); // .../onnxruntime-web/dist
  return {
    name: 'copy-ort-wasm',
    writeBundle() {
      mkdirSync(outDir, { recursive: true });
      for (const file of files) copyFileSync(join(ortDir, file), join(outDir, file));
    },
  };
}

/** Minify our chunks with esbuild (already-minified onnxruntime chunks pass through quickly). */
export function esbuildMinify() {
  return {
    name: 'esbuild-minify',
    async renderChunk(code) {
      const result = await transform(code, { minify: true, format: 'esm', target: 'es2022', sourcemap: true });
      return { code: result.code, map: result.map };
    },
  };
}

/**
 * Lit templates are strings to esbuild, kept as written. In our sources' html`…`, svg`…` and css`…`
 * templates, a line break and the indentation after it become one space (HTML and CSS collapse
 * whitespace alike; no template of ours holds <pre> or a white-space: pre text), and in css`…`
 * comments and the spaces beside braces, semicolons, commas and child combinators go, and after
 * colons (no quoted text in our styles). Parsed with TypeScript, so
 * only the templates' own text changes, never their expressions.
 */
export function minifyTemplates() {
  return {
    name: 'minify-templates',
    transform(code, id) {
      if (!/\/src\/.*\.ts$/.test(id) || !/\b(html|svg|css)`/.test(code)) return null;
      const source = ts.createSourceFile(id, code, ts.ScriptTarget.Latest, true);
      const edits = [];
      const visit = (node) => {
        if (ts.isTaggedTemplateExpression(node) && ts.isIdentifier(node.tag) && ['html', 'svg', 'css'].includes(node.tag.text)) {
          const parts = ts.isNoSubstitutionTemplateLiteral(node.template) ? [node.template]
            : [node.template.head, ...node.template.templateSpans.map((span) => span.literal)];
          for (const part of parts) {
            const start = part.getStart(source);
            const text = code.slice(start, part.end);
            edits.push([start, part.end, node.tag.text === 'css' ? minifyCss(text) : text.replace(/\n\s*/g, ' ')]);
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
      if (edits.length === 0) return null;
      let out = code;
      for (const [start, end, text] of edits.sort((a, b) => b[0] - a[0])) out = out.slice(0, start) + text + out.slice(end);
      return { code: out, map: null };
    },
  };
}

function minifyCss(text) {
  // `text` keeps its delimiters (` or } before, ` or ${ after): only what lies between changes.
  const [, open, body, close] = /^(`|\})([^]*?)(`|\$\{)$/.exec(text);
  return open + body.replace(/\/\*[^]*?\*\//g, '').replace(/\s+/g, ' ').replace(/ ?([{};,>]) ?/g, '$1').replace(/: /g, ':').trim() + close;
}
