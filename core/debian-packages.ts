/**
 * The Debian packages the lab needs, with why — the one list: `./lab setup` installs it on the host
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
  chromium: 'browser tests and screenshots of the site',
  'python3-venv': 'the project-local Jupyter venv',
  'build-essential': 'node-gyp builds the addon',
  procps: 'process listing in leak checks',
  iproute2: 'ss, to find what listens on the lab ports',
  'jupyter-nbconvert': 'an independent client that executes the notebooks (acceptance check)',
  'python3-nbconvert': "nbconvert for Debian's python3",
};

/**
 * What builds and runs the lab's container image (./lab container): on the host only — the image
 * itself leaves these out, and set-up inside the container (LAB_IN_CONTAINER set) does not ask for them.
 */
export const imagePackages: Record<string, string> = {
  podman: 'runs the lab in a container (./lab container)',
  runc: "podman's runtime here: crun refuses to start containers on a hybrid cgroup layout",
  mmdebstrap: "builds the container image's root from Debian's packages (no base image download)",
};

/** Set in the lab's container image: set-up there wants no image tools. */
export const inContainerVariable = 'LAB_IN_CONTAINER';
