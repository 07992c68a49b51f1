/**
 * The Debian packages the lab runs on, with why — the one list: `./lab setup` installs it on the host
 * and the lab's container image (engines/container/image.ts) is built from it.
 */
export const aptPackages: Record<string, string> = {
  clang: 'compiles bpf/*.bpf.c with -target bpf',
  llvm: 'llvm-strip for BPF objects',
  'libbpf-dev': 'libbpf headers and library for the addon',
  'libelf-dev': 'libbpf dependency',
  'zlib1g-dev': 'libbpf dependency',
  bpftool: 'vmlinux.h from BTF, BTF dump for generated event types, link listing',
  bpftrace: 'the reference tracer in benchmarks and the crash matrix',
  'golang-1.19-go': 'an old Go runtime beside the current one',
  'python3-venv': 'the project-local Jupyter venv',
  'build-essential': 'node-gyp builds the addon',
  procps: 'process listing in leak checks',
  iproute2: 'ss, to find what listens on the lab ports',
};

/** What only the tests and benchmarks use: on the host, not in the lab's image. */
export const testPackages: Record<string, string> = {
  chromium: 'browser tests and screenshots of the site',
  'jupyter-nbconvert': 'an independent client that executes the notebooks (acceptance check)',
  'python3-nbconvert': "nbconvert for Debian's python3",
};

/** What builds and runs the lab's container image (./lab container): on the host only. */
export const imagePackages: Record<string, string> = {
  podman: 'runs the lab in a container (./lab container)',
  runc: "podman's runtime here: crun refuses to start containers on a hybrid cgroup layout",
  mmdebstrap: "builds the container image's root from Debian's packages (no base image download)",
};

/** Set in the lab's container image. */
export const inContainerVariable = 'LAB_IN_CONTAINER';

/**
 * What `./lab setup` installs here: everything on a host; inside the lab's container (it runs the
 * lab, not its test suite, and builds no images) what the lab runs on, which the image holds.
 */
export const wantedPackages = (): Record<string, string> =>
  process.env[inContainerVariable] ? aptPackages : { ...aptPackages, ...testPackages, ...imagePackages };
