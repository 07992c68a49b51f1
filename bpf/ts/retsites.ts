/**
 * Finds the RET instructions of one function by decoding its machine code with iced-x86: a 0xC3
 * byte inside an immediate or displacement is not a RET, and only a real decoder tells them apart.
 */
import { createRequire } from 'node:module';

type Iced = typeof import('iced-x86');
let iced: Iced | undefined;
/** iced-x86 is CommonJS and loads its WASM synchronously; load it once, on first use. */
function loadIced(): Iced {
  return (iced ??= createRequire(import.meta.url)('iced-x86') as Iced);
}

export interface DecodedRet {
  offset: number; // bytes from the function's start
  text: string;
}

export interface DecodeResult {
  rets: DecodedRet[];
  /** Unconditional jumps that leave the function: tail calls, whose callee returns for us. */
  tailJumps: { offset: number; text: string; target: number }[];
  /** Jumps through a register or memory: a jump table or a tail call, the decoder cannot tell. */
  indirectJumps: { offset: number; text: string }[];
  invalid: number[]; // offsets of bytes that do not decode
  instructions: number;
}

/** Decodes `code` (the function's bytes, as long as its symbol says) loaded at `address`. */
export function decodeFunction(code: Uint8Array, address: number): DecodeResult {
  const { Decoder, DecoderOptions, Formatter, FormatterSyntax, FlowControl, Instruction } = loadIced();
  const start = BigInt(address);
  const end = start + BigInt(code.length);
  const decoder = new Decoder(64, code, DecoderOptions.None);
  const formatter = new Formatter(FormatterSyntax.Intel);
  const instr = new Instruction();
  const result: DecodeResult = { rets: [], tailJumps: [], indirectJumps: [], invalid: [], instructions: 0 };
  try {
    decoder.ip = start;
    while (decoder.canDecode) {
      decoder.decodeOut(instr);
      result.instructions++;
      const offset = Number(instr.ip - start);
      if (instr.isInvalid) {
        result.invalid.push(offset);
        continue;
      }
      const flow = instr.flowControl;
      if (flow === FlowControl.Return) {
        result.rets.push({ offset, text: formatter.format(instr) });
      } else if (flow === FlowControl.UnconditionalBranch) {
        const target = instr.nearBranchTarget;
        if (target < start || target >= end)
          result.tailJumps.push({ offset, text: formatter.format(instr), target: Number(target) });
      } else if (flow === FlowControl.IndirectBranch) {
        result.indirectJumps.push({ offset, text: formatter.format(instr) });
      }
    }
  } finally {
    instr.free();
    formatter.free();
    decoder.free();
  }
  return result;
}
