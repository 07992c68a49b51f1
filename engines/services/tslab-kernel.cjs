// The lab's tslab kernel (the argv of its kernelspec, engines/services/jupyter.ts): tslab as is, except
// that it binds Jupyter's `ipc` transport where Jupyter connects. The lab's Jupyter reaches its kernels
// over Unix sockets in a private directory, so no other user can connect to a kernel or subscribe to its
// outputs (over TCP on loopback anyone can: iopub needs no key to subscribe). tslab 1.0 writes the address
// as `ipc://<ip>:<port>`, jupyter_client as `ipc://<ip>-<port>`.
// It also ends with its Jupyter (below). Usage: node tslab-kernel.cjs <connection file>
'use strict';
const { join } = require('node:path');
const { Worker } = require('node:worker_threads');
const tslab = join(__dirname, '..', '..', 'node_modules', 'tslab', 'dist');
const { ZmqServer } = require(join(tslab, 'jupyter.js'));
const { startKernel } = require(join(tslab, 'main.js'));

const bindSocket = ZmqServer.prototype.bindSocket;
ZmqServer.prototype.bindSocket = function (sock, port) {
  const conn = this.connInfo;
  return conn.transport === 'ipc' ? sock.bind(`ipc://${conn.ip}-${port}`) : bindSocket.call(this, sock, port);
};

// Jupyter starts kernels in sessions of their own: when it dies without shutting them down (the OOM
// killer, SIGKILL), nothing else reaches them. A thread of ours sees the parent change and ends the kernel:
// SIGTERM first (the kernel helpers release what they hold), SIGKILL when a busy cell keeps the main
// thread from handling it. The parent to expect is the one Jupyter names (JPY_PARENT_PID): a Jupyter
// killed before this thread started has already left the kernel to PID 1.
const watchParent = `
  const { workerData: jupyter } = require('node:worker_threads');
  setInterval(() => {
    if (process.ppid === jupyter) return;
    process.kill(process.pid, 'SIGTERM');
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 5000);
  }, 500);
`;
const jupyterPid = Number(process.env.JPY_PARENT_PID) || process.ppid;
new Worker(watchParent, { eval: true, workerData: jupyterPid }).unref();

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: tslab-kernel.cjs <connection file>');
  process.exit(2);
}
// A failing cell's error in the cell's own words (its line, the message first, no tslab frames).
require(join(__dirname, '..', '..', 'kernel-helpers', 'cell-errors.cjs')).install(tslab);
startKernel({ configPath, enableFindLocal: false });
