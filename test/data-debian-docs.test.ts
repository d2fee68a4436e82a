// example:debian-docs: English documentation and dictionaries read from Debian's packages
// (scripts/setup.sh installs them), cut into documents in a fixed order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEBIAN_DOCS_PACKAGES, readDebianDocs, splitDictionary } from '../src/data/debian-docs.js';
import { readExample } from '../src/data/examples.js';
import { tempDir } from './temp-dir.js';

test('a dictionary is cut into pieces at entry starts, never inside an entry', () => {
  const entry = (word: string) => `${word}\n   n 1: a gloss of ${word} that runs on\n        over two lines\n   2: another sense of ${word}\n\n`;
  const text = ['apple', 'banana', 'cherry', 'damson', 'elder'].map(entry).join('');
  const pieces = splitDictionary(text, 60);
  assert.ok(pieces.length > 1);
  assert.equal(pieces.join('\n\n').replace(/\s+/g, ' '), text.trim().replace(/\s+/g, ' '), 'nothing lost or repeated');
  for (const p of pieces) assert.match(p, /^[a-z]+\n {3}n 1: /, `each piece starts with a headword: ${JSON.stringify(p.slice(0, 20))}`);
});

test('example:debian-docs without its packages names each missing one and how to install it', () => {
  const empty = tempDir('tlc-no-docs-');
  assert.throws(() => [...readDebianDocs('example:debian-docs', empty)],
    new RegExp(`missing: ${DEBIAN_DOCS_PACKAGES.join(', ')} \\(install them with: apt-get install --no-install-recommends ${DEBIAN_DOCS_PACKAGES.join(' ')}`));
});

test('example:debian-docs reads every part, in a fixed order, each document once', () => {
  const parts = new Map<string, { documents: number; bytes: number }>();
  const ids = new Set<string>();
  let first: string | undefined;
  for (const d of readExample('debian-docs')) {
    first ??= d.id;
    assert.ok(!ids.has(d.id), `duplicate id ${d.id}`);
    ids.add(d.id);
    assert.notEqual(d.text.trim(), '');
    const part = d.id.split('/')[1];
    const seen = parts.get(part) ?? { documents: 0, bytes: 0 };
    parts.set(part, { documents: seen.documents + 1, bytes: seen.bytes + d.text.length });
  }
  assert.deepEqual([...parts.keys()], ['linux', 'python', 'perl', 'git', 'gcide', 'wordnet']);
  assert.match(first!, /^debian-docs\/linux\/.+\.(rst|txt)$/);
  assert.ok(![...ids].some((id) => id.includes('translations/')), 'the kernel documentation\'s translations are left out');
  const total = [...parts.values()].reduce((s, p) => s + p.bytes, 0);
  assert.ok(total > 100e6, `${total} characters: the corpus is meant for hour-scale budgets`);
});
