// Another local user against the lab as `./lab start` runs it (Jupyter with a tslab notebook kernel
// and a session, the site proxying it, a browser admitted by the grant link): as `nobody`, every way
// we know to get the Jupyter token, or to reach a kernel, a session or a terminal without it, fails.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { startJupyter, type RunningJupyter } from '../../engines/services/jupyter.ts';
import { siteServe, type ServedSite } from '../../engines/services/site.ts';
import { root } from '../../core/paths.ts';
import { jupyterServerPid, kernelPids } from '../support/jupyter-support.ts';
import { redeemGrant } from '../support/site.ts';

let jupyter: RunningJupyter;
let site: ServedSite;
let kernelId: string;

before(async () => {
  jupyter = await startJupyter();
  site = await siteServe({ jupyter: { url: jupyter.url, token: jupyter.token } });
  // The owner's browser opened the link: the proxy has a session, and a notebook kernel runs.
  const { headers } = await redeemGrant(site.grantUrl!);
  const res = await fetch(new URL('jupyter/api/sessions', site.url), {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({
      path: 'notebooks/00-preflight.ipynb',
      type: 'notebook',
      name: '00-preflight.ipynb',
      kernel: { name: 'tslab' },
    }),
  });
  const body = await res.text();
  assert.equal(res.status, 201, body);
  kernelId = (JSON.parse(body) as { kernel: { id: string } }).kernel.id;
});

after(async () => {
  await site?.stop();
  await jupyter?.stop();
});

/**
 * The attacker, in bash: prints what it can read (`=== what` sections) and one `ATTEMPT name status`
 * line per request it makes. It harvests every token-shaped string it can read and tries each.
 */
const attacker = String.raw`
site=$1 jup=$2 root=$3 jpid=$4 kernel=$5 guess=$6 kpids=$7
code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$@"; }
try() { local name=$1; shift; echo "ATTEMPT $name $(code "$@")"; }
ws() { local name=$1 url=$2; shift 2; echo "ATTEMPT $name $(code -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H "Sec-WebSocket-Key: $(head -c16 /dev/urandom | base64)" "$@" "$url")"; }
echo "=== id"; id
echo "=== ps"; ps -eo args
for h in "127.0.0.1:$site" "localhost:$site" "[::1]:$site" "evil.example" "evil.example:$site" "127.0.0.1"; do
  echo "=== lab-config.json Host $h"; curl -s -m 5 -H "Host: $h" "http://127.0.0.1:$site/lab-config.json"; echo
  try "lab-config-host-$h" -H "Host: $h" "http://127.0.0.1:$site/lab-config.json"
done
echo "=== .lab and build files"; find "$root/.lab" "$root/build" -type f -readable 2>/dev/null | head -20000 | xargs -r grep -IlE '[0-9a-f]{32}' 2>/dev/null | head -50
echo "=== unreadable under .lab"; find "$root/.lab" ! -readable 2>/dev/null | head -20
for p in $jpid $kpids; do
  echo "=== /proc/$p/environ"; cat /proc/$p/environ 2>&1 | tr '\0' '\n'
  echo "=== /proc/$p/cmdline"; cat /proc/$p/cmdline 2>&1 | tr '\0' ' '; echo
done
echo "=== harvest"
cands=$( { ps -eo args; cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n';
  find "$root/.lab" "$root/build" /tmp /var/tmp /dev/shm -type f -readable -size -2M 2>/dev/null | xargs -r cat 2>/dev/null;
  for h in "127.0.0.1:$site" evil.example; do curl -s -m 5 -H "Host: $h" "http://127.0.0.1:$site/lab-config.json"; done; } \
  | grep -aoE '\b[0-9a-f]{48}\b' | sort -u | head -500)
echo "$(echo "$cands" | grep -c .) candidates"
for c in $cands; do try harvested-token -H "Authorization: token $c" "http://127.0.0.1:$jup/jupyter/api/kernels"; done
J="http://127.0.0.1:$jup/jupyter"
for path in api/kernels api/sessions api/terminals "api/kernels/$kernel" api/contents/notebooks; do
  try "jupyter-$path-no-token" "$J/$path"
  try "jupyter-$path-guessed-header" -H "Authorization: token $guess" "$J/$path"
  try "jupyter-$path-guessed-query" "$J/$path?token=$guess"
  try "jupyter-$path-foreign-origin" -H "Origin: http://evil.example" -H "Authorization: token $guess" "$J/$path"
  try "site-$path-no-cookie" "http://127.0.0.1:$site/jupyter/$path"
  try "site-$path-guessed-cookie" -H "Cookie: lab-session-$site=$guess" "http://127.0.0.1:$site/jupyter/$path"
  try "site-$path-foreign-origin" -H "Origin: http://evil.example" "http://127.0.0.1:$site/jupyter/$path"
  try "site-$path-foreign-host" -H "Host: evil.example" "http://127.0.0.1:$site/jupyter/$path"
done
for base in "$J" "http://127.0.0.1:$site/jupyter"; do
  try "post-terminal-$base" -X POST -H "Authorization: token $guess" -H "Origin: http://evil.example" "$base/api/terminals"
  try "post-kernel-$base" -X POST -H 'Content-Type: application/json' -d '{"name":"tslab"}' "$base/api/kernels"
  try "post-session-$base" -X POST -H 'Content-Type: application/json' -d '{"path":"x.ipynb","type":"notebook","kernel":{"name":"tslab"}}' "$base/api/sessions"
  ws "ws-kernel-$base" "$base/api/kernels/$kernel/channels"
  ws "ws-kernel-guessed-$base" "$base/api/kernels/$kernel/channels?token=$guess" -H "Authorization: token $guess"
  ws "ws-terminal-$base" "$base/terminals/websocket/1?token=$guess"
done
`;

function asNobody(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'setpriv',
      [
        '--reuid=nobody',
        '--regid=nogroup',
        '--clear-groups',
        '--inh-caps=-all',
        'bash',
        '-c',
        attacker,
        'attacker',
        ...args,
      ],
      { cwd: '/', maxBuffer: 64 << 20, timeout: 600_000 },
      (err, stdout, stderr) =>
        err && !stdout ? reject(new Error(`setpriv failed: ${err.message} ${stderr}`)) : resolve(stdout),
    );
  });
}

test('as nobody: no Jupyter token from the site, ps, .lab/ or /proc, and no kernel, session or terminal without it', async () => {
  assert.ok(existsSync('/usr/bin/setpriv'), 'setpriv (util-linux) is missing');
  const kernels = kernelPids(jupyterServerPid(jupyter.url));
  assert.ok(kernels.length > 0, 'no tslab kernel process to attack');
  const guess = randomBytes(24).toString('hex');
  const out = await asNobody([
    String(site.port),
    new URL(jupyter.url).port,
    root,
    String(jupyterServerPid(jupyter.url)),
    kernelId,
    guess,
    kernels.join(' '),
  ]);
  assert.match(out, /uid=65534\(nobody\)/, 'the attack did not run as nobody');
  assert.match(out, /jupyter-lab/, 'nobody could not see the Jupyter process in ps: the check proves nothing');
  assert.ok(
    !out.includes(jupyter.token),
    `nobody read the Jupyter token: …${out.slice(Math.max(0, out.indexOf(jupyter.token) - 300), out.indexOf(jupyter.token) + 60)}`,
  );
  assert.match(out, /=== \/proc\/\d+\/environ\n[^\n]*Permission denied/, 'nobody read the environment of Jupyter');

  const attempts = [...out.matchAll(/^ATTEMPT (\S+) (\d{3})$/gm)].map((m) => ({ name: m[1], status: Number(m[2]) }));
  assert.ok(attempts.length >= 50, `only ${attempts.length} attempts ran:\n${out.slice(-2000)}`);
  const lab = attempts.filter((a) => a.name.startsWith('lab-config-host-'));
  // The config answers loopback names only; it is fine that it answers at all — it holds no token.
  assert.deepEqual(
    lab
      .filter((a) => a.status === 200)
      .map((a) => a.name)
      .sort(),
    [
      'lab-config-host-127.0.0.1:' + site.port,
      `lab-config-host-[::1]:${site.port}`,
      `lab-config-host-localhost:${site.port}`,
    ].sort(),
  );
  const gotIn = attempts.filter(
    (a) => !a.name.startsWith('lab-config-host-') && (a.status === 101 || (a.status >= 200 && a.status < 400)),
  );
  assert.deepEqual(gotIn, [], 'requests that reached Jupyter without the token');
  assert.ok(
    attempts.some((a) => a.name === 'harvested-token') || /\n0 candidates/.test(out),
    'the harvest did not run',
  );
});
