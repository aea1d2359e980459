// google.api.http path templates: parsing (and refusing bad ones) and matching.
import t from 'tap';
import { parseTemplate, matchTemplate, splitPath } from '../src/transcode/path-template.js';

const match = (template: string, path: string) => {
  const m = matchTemplate(parseTemplate(template), splitPath(path));
  return m ? Object.fromEntries(m) : null;
};

t.test('matching', async (t) => {
  t.same(match('/v1/{name=shelves/*/books/*}', '/v1/shelves/s1/books/b1'), { name: 'shelves/s1/books/b1' });
  t.same(match('/v1/{name=shelves/*/books/*}', '/v1/shelves/s1/books'), null, 'too short');
  t.same(match('/v1/shelves/{shelf}', '/v1/shelves/a%20b'), { shelf: 'a b' }, 'single segment: decoded');
  t.same(match('/v1/{path=files/**}', '/v1/files/a/b%2Fc/d'), { path: 'files/a/b%2Fc/d' }, 'multi segment: %2F kept');
  t.same(match('/v1/{book.name=shelves/*}:archive', '/v1/shelves/7:archive'), { 'book.name': 'shelves/7' }, 'verb and nested field');
  t.same(match('/v1/{book.name=shelves/*}:archive', '/v1/shelves/7'), null, 'verb required');
  t.same(match('/v1/items/{id}', '/v1/items/a:b'), { id: 'a:b' }, 'a colon inside a value when the template has no verb');
  t.same(match('/v1/*/x', '/v1//x'), null, 'an empty segment does not match *');
  t.same(match('/v1/items/{id}', '/v1/items/%E0%A4%A'), null, 'broken percent-encoding does not match');
});

t.test('bad templates are refused with the reason', async (t) => {
  for (const [tpl, why] of [
    ['v1/x', /must start with/],
    ['/v1/{a=**}/x', /must be the last/],
    ['/v1/{a', /unbalanced/],
    ['/v1/{9a}', /bad field path/],
    ['/v1/x:', /bad verb/],
  ] as const) t.throws(() => parseTemplate(tpl), why, tpl);
});
