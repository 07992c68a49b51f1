/**
 * Where a Go function's body begins, past its stack check. The prologue
 * compares SP with g.stackguard0 (g lives in r14) and, when the stack is too
 * small, calls runtime.morestack, which restarts the function from its first
 * instruction on a bigger stack: a probe at offset 0 would fire twice for one
 * call. A probe right after the check's branch fires once.
 */
import { createRequire } from 'node:module';

type Iced = typeof import('iced-x86');
let iced: Iced | undefined;
const loadIced = () => (iced ??= createRequire(import.meta.url)('iced-x86') as Iced);

/**
 * Bytes past the stack-check branch, or 0 when the function has no stack
 * check (NOSPLIT). Small frames: `cmp rsp, [r14+16]; jbe`. Big frames first
 * guard against wrap-around: `mov r12, rsp; sub r12, N; jb; cmp r12, [r14+16]; jbe`.
 */
export function bodyOffset(code: Uint8Array): number {
  const { Decoder, DecoderOptions, Instruction, FlowControl, Mnemonic, Register } = loadIced();
  const decoder = new Decoder(64, code, DecoderOptions.None);
  const instr = new Instruction();
  try {
    let comparedWithStackGuard = false;
    for (let i = 0; i < 8 && decoder.canDecode; i++) {
      decoder.decodeOut(instr);
      if (instr.mnemonic === Mnemonic.Cmp && instr.memoryBase === Register.R14) comparedWithStackGuard = true;
      else if (instr.flowControl === FlowControl.ConditionalBranch) {
        if (comparedWithStackGuard) return Number(instr.nextIP);
      } else if (instr.flowControl !== FlowControl.Next) return 0;
    }
    return 0;
  } finally {
    instr.free();
    decoder.free();
  }
}
