/** A room's secrets go with the room, even when its watchdog died with it (a whole tree SIGKILLed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { removeDeadRoomsState, roomRunDir, roomStateDir } from '../../workshop/hands-on-paths.ts';

test("a room's secrets and sockets go once its process is gone; a living room's stay", async () => {
  const deadPid = spawnSync('true').pid!;
  const dead = `${deadPid}-dead01`;
  const alive = `${process.pid}-live01`;
  try {
    for (const r of [dead, alive]) {
      mkdirSync(roomStateDir(r), { recursive: true, mode: 0o700 });
      writeFileSync(`${roomStateDir(r)}/jupyterhub_config.py`, 'sign-in codes');
      mkdirSync(roomRunDir(r), { recursive: true });
    }
    const removed = await removeDeadRoomsState();
    assert.ok(removed.includes(dead), `the dead room's state was not removed: ${removed}`);
    assert.ok(!removed.includes(alive));
    assert.equal(existsSync(roomStateDir(dead)), false, 'sign-in codes left behind');
    assert.equal(existsSync(roomRunDir(dead)), false);
    assert.equal(existsSync(roomStateDir(alive)), true, "a living room's secrets were removed");
    assert.equal(existsSync(roomRunDir(alive)), true);
  } finally {
    for (const r of [dead, alive]) {
      rmSync(roomStateDir(r), { recursive: true, force: true });
      rmSync(roomRunDir(r), { recursive: true, force: true });
    }
  }
});
