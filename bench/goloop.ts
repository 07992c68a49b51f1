/** engines/goloop's driver lives with the overhead measurement the notebooks share (engines/overhead.ts). */
export { GoLoop } from '../engines/overhead.ts';
