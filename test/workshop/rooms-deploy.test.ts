// lab-test: concurrent — reads the deploy files and the workshop page; JupyterHub's classes run in memory.
/**
 * The Kubernetes room's pieces, checked on one machine with JupyterHub's own classes: every
 * attendee gets a uid of their own (allocated from the hub's user table, not hashed from the
 * name), and the probe service's DaemonSet shares the host's PID namespace and the socket
 * directory the attendees' pods mount.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { venvDir } from '../../engines/services/jupyter.ts';
import { defaultSandboxLimits } from '../../workshop/sandbox.ts';

const python = join(venvDir, 'bin', 'python');

// 300 attendees signing in one after another, each spawner asked for its uid, as KubeSpawner asks.
const uidsScript = `
import json, runpy, sys
from traitlets.config import Config
from jupyterhub import orm
from jupyterhub.user import User
from jupyterhub.spawner import Spawner
cfg = Config()
runpy.run_path(sys.argv[1], init_globals={"get_config": lambda: cfg})
db = orm.new_session_factory("sqlite:///:memory:")()
uids = {}
for i in range(300):
    u = orm.User(name=f"attendee{i}")
    db.add(u)
    db.commit()
    user = User(u, {"db": db})
    uids[user.name] = [cfg.KubeSpawner.uid(Spawner(user=user, config=cfg)), cfg.KubeSpawner.gid(Spawner(user=user, config=cfg))]
print(json.dumps({"uids": uids, "kubespawner": {"volumes": cfg.KubeSpawner.volumes, "env": cfg.KubeSpawner.environment}}))
`;

const daemonSetScript = `
import json, sys, yaml
print(json.dumps(yaml.safe_load(open(sys.argv[1]))))
`;

test('kubespawner_config.py: 300 attendees, 300 distinct unprivileged uids (allocated, not hashed)', () => {
  const out = execFileSync(python, ['-c', uidsScript, at('workshop', 'deploy', 'kubespawner_config.py')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const { uids } = JSON.parse(out) as { uids: Record<string, [number, number]> };
  const values = Object.values(uids).map(([uid]) => uid);
  assert.equal(new Set(values).size, 300, 'no two attendees share a uid');
  assert.ok(
    values.every((u) => u >= 1000 && u < 65534),
    'every uid is an ordinary user’s',
  );
  assert.ok(
    Object.values(uids).every(([uid, gid]) => uid === gid),
    'gid follows uid',
  );
});

test('the probe-service DaemonSet: host PID namespace, and the socket directory the attendee pods mount', () => {
  const ds = JSON.parse(
    execFileSync(python, ['-c', daemonSetScript, at('workshop', 'deploy', 'probe-service-daemonset.yaml')], {
      encoding: 'utf8',
    }),
  ) as {
    spec: {
      template: {
        spec: {
          hostPID?: boolean;
          volumes: { name: string; hostPath?: { path: string } }[];
          containers: { command: string[]; volumeMounts: { name: string; mountPath: string }[] }[];
        };
      };
    };
  };
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostPID, true, 'the service reads attendees’ processes in the host’s /proc (NSpid)');
  const out = execFileSync(python, ['-c', uidsScript, at('workshop', 'deploy', 'kubespawner_config.py')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const { kubespawner } = JSON.parse(out) as {
    kubespawner: { volumes: { hostPath: { path: string } }[]; env: Record<string, string> };
  };
  const socketDir = kubespawner.volumes[0].hostPath.path;
  assert.ok(
    pod.volumes.some((v) => v.hostPath?.path === socketDir),
    `the DaemonSet mounts ${socketDir} from the host`,
  );
  const command = pod.containers[0].command.join(' ');
  assert.ok(
    command.includes(kubespawner.env.LAB_PROBE_SERVICE),
    `the service listens where the pods look (${kubespawner.env.LAB_PROBE_SERVICE})`,
  );
});

test("the workshop page states the sandbox's default limits as the code has them", () => {
  const { memoryBytes, cpus, pids } = defaultSandboxLimits;
  const page = readFileSync(at('docs', 'workshop.mdx'), 'utf8');
  assert.ok(
    page.includes(`\`--memory=${memoryBytes / 1024 ** 3}g --cpus=${cpus} --pids=${pids}\``),
    'docs/workshop.mdx',
  );
});
