/**
 * The Go version a binary was built with, as `go version -m` finds it: the .go.buildinfo header
 * (inline strings since Go 1.18, pointers to Go strings before), else runtime.buildVersion.
 */
import { Bytes, type ElfFile, type ElfSymbol } from './elf.ts';

const buildInfoMagic = '\xff Go buildinf:';

export function goVersionOf(elf: ElfFile, symbols: ElfSymbol[]): string | undefined {
  try {
    const s = elf.section('.go.buildinfo');
    if (s) {
      const v = fromBuildInfo(elf, elf.rawSection(s));
      if (v) return v;
    }
    const sym = symbols.find((x) => x.name === 'runtime.buildVersion');
    if (sym) return readGoString(elf, sym.value);
  } catch {
    // An unreadable version only costs the label; the binary may still be perfectly traceable.
  }
  return undefined;
}

function fromBuildInfo(elf: ElfFile, raw: Uint8Array): string | undefined {
  const d = new Bytes(raw);
  if (raw.length < 32 || Buffer.from(raw.subarray(0, 14)).toString('latin1') !== buildInfoMagic) return undefined;
  const ptrSize = raw[14];
  const flags = raw[15];
  if (flags & 2) {
    // Go ≥ 1.18: varint-length-prefixed version string right after the 32-byte header.
    let pos = 32;
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = d.u8(pos++, 'the build info');
      len += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
      shift += 7;
      if (shift > 28) return undefined;
    }
    return Buffer.from(d.slice(pos, len, 'the build info version')).toString('utf8');
  }
  if (ptrSize !== 8 || flags & 1) return undefined; // 32-bit or big-endian layouts are not ours
  return readGoString(elf, d.u64(16, 'the build info version pointer'));
}

/** A Go string header {ptr, len} at a virtual address. */
function readGoString(elf: ElfFile, vaddr: number): string | undefined {
  const hdr = new Bytes(elf.readAt(vaddr, 16, 'a Go string header'));
  const ptr = hdr.u64(0);
  const len = hdr.u64(8);
  if (len > 256) return undefined;
  return Buffer.from(elf.readAt(ptr, len, 'a Go string')).toString('utf8');
}
