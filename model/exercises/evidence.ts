/**
 * Judging "explain the evidence" answers: what the learner pointed at against the lab's forensics
 * of the same crash text. Browser-safe: the site judges the recorded crash with it, the kernel
 * checks a live one. Addresses and names are read as the dump prints them (judging.ts).
 */
import { parseCrash, parseMaps, vmaFor } from '../forensics.ts';
import { hexAddress, readAddress, readFuncName, type Judgement } from './judging.ts';

export type EvidenceVerdict = Judgement;

export function judgeEvidence(e: { slot: string; frame: string; stderr: string; maps?: string }): EvidenceVerdict {
  const pass = (message: string) => ({ pass: true, message });
  const fail = (message: string) => ({ pass: false, message });
  const f = parseCrash(e.stderr, e.maps ?? '');
  if (f?.kind !== 'unexpected-return-pc')
    return fail(
      'the crash text you point into holds no "unexpected return pc" — crash the server under a uretprobe first (the cells above)',
    );
  if (!f.slot || !f.victim)
    return fail("the lab's forensics find no hex dump in that crash text — pass the whole stderr of the crash");
  const vma = f.hijackedPc && e.maps ? vmaFor(f.hijackedPc, parseMaps(e.maps)) : undefined;
  const where = vma ? ` — \`${f.hijackedPc}\` lies in ${vma.name || 'an anonymous mapping'}` : '';
  const typed = readAddress(e.slot ?? '');
  const slot = typed === undefined ? undefined : hexAddress(typed);
  const frame = readFuncName(e.frame ?? '');
  const slotRight = slot === f.slot.address;
  const frameRight = frame === f.victim;
  if (slotRight && frameRight)
    return pass(`\`${f.slot.address}\` held \`${f.slot.value}\`, \`${f.victim}\`'s return address${where}`);
  const wrong: string[] = [];
  if (!slotRight) {
    if (slot === undefined)
      wrong.push(
        `the slot \`${(e.slot ?? '').trim().slice(0, 40)}\` is not an address (copy one from the dump, with or without 0x)`,
      );
    else {
      const word = f.words.find((w) => hexAddress(w.address) === slot);
      wrong.push(
        `the slot is wrong: \`${slot}\` ${word ? `holds \`${hexAddress(word.value)}\`` : 'is not in the dump'} — find the word \`${f.hijackedPc}\``,
      );
    }
  }
  if (!frameRight)
    wrong.push(
      `the frame is wrong: the slot held the return address of another function than \`${frame.slice(0, 60) || '(empty)'}\` — read the runtime's "unexpected return pc for …" line`,
    );
  const right = slotRight ? 'the slot is right, ' : frameRight ? 'the frame is right, ' : '';
  return fail(right + wrong.join('; '));
}
