/**
 * Judging "explain the evidence" answers: what the learner pointed at against the lab's forensics
 * of the same crash text. Browser-safe: the site judges the recorded crash with it, the kernel
 * checks a live one.
 */
import { parseCrash, parseMaps, vmaFor } from '../forensics.ts';

export interface EvidenceVerdict {
  pass: boolean;
  message: string;
}

const hexNorm = (s: string) => {
  try {
    return /^\s*0x[0-9a-f]+\s*$/i.test(s) ? `0x${BigInt(s.trim().toLowerCase()).toString(16)}` : undefined;
  } catch {
    return undefined;
  }
};

export function judgeEvidence(e: { slot: string; frame: string; stderr: string; maps?: string }): EvidenceVerdict {
  const pass = (message: string) => ({ pass: true, message });
  const fail = (message: string) => ({ pass: false, message });
  const f = parseCrash(e.stderr, e.maps ?? '');
  if (f?.kind !== 'unexpected-return-pc')
    return fail(
      'the crash text you point into holds no "unexpected return pc" — crash the server under a uretprobe first (the cells above)',
    );
  if (!f.slot)
    return fail("the lab's forensics find no hex dump in that crash text — pass the whole stderr of the crash");
  const vma = f.hijackedPc && e.maps ? vmaFor(f.hijackedPc, parseMaps(e.maps)) : undefined;
  const where = vma ? ` — ${f.hijackedPc} lies in ${vma.name || 'an anonymous mapping'}` : '';
  const slot = hexNorm(e.slot ?? '');
  if (!slot) return fail(`"${e.slot}" is not an address — copy the stack address whose word is ${f.hijackedPc}`);
  if (slot !== f.slot.address) {
    const word = f.words.find((w) => `0x${w.address.toString(16)}` === slot);
    return fail(
      `${slot} is not the hijacked slot: ${word ? `it holds 0x${word.value.toString(16)}` : 'it is not in the dump'} — find the word ${f.hijackedPc}`,
    );
  }
  if ((e.frame ?? '').trim() !== f.victim)
    return fail(
      `the slot is right, but it held the return address of ${f.victim}, not ${JSON.stringify(e.frame)} — read the runtime's "unexpected return pc for …" line`,
    );
  return pass(`${f.slot.address} held ${f.slot.value}, ${f.victim}'s return address${where}`);
}
