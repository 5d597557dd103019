/**
 * The shipped access map (what `npm start` uses against the sandboxes) is valid and points only at
 * groups, locks and Nexudus items that exist in the sandbox seeds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AccessMap } from '../../src/config/access-map';

const root = path.join(__dirname, '../..');
const read = (p: string) => JSON.parse(fs.readFileSync(path.join(root, p), 'utf8'));

test('config/access-map.json matches the sandbox seeds', () => {
  const map = AccessMap.load(path.join(root, 'config/access-map.json'));
  const kisi = read('config/sandbox/kisi-seed.json');
  const nexudus = read('config/sandbox/nexudus-seed.json');
  const kisiGroups = new Set(kisi.groups.filter((g: { place_id: number }) => g.place_id === map.kisiPlaceId).map((g: { id: number }) => g.id));
  for (const g of map.allGroupIds()) expect(kisiGroups).toContain(g);
  const locks = new Set(kisi.locks.map((l: { id: number }) => l.id));
  for (const l of map.mappedDoorIds()) expect(locks).toContain(l);
  const ids = (list: Array<{ Id: number }>) => new Set(list.map((x) => x.Id));
  for (const r of map.mappedResourceIds()) expect(ids(nexudus.resources)).toContain(r);
  for (const d of map.mappedFloorPlanItemIds()) expect(ids(nexudus.floorPlanDesks)).toContain(d);
  for (const p of map.mappedPassIds()) expect(ids(nexudus.timePasses)).toContain(p);
  expect(ids(nexudus.businesses)).toContain(map.nexudusBusinessId);
});
