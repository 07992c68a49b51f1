/**
 * An ELF file read piece by piece from disk: a tracer needs its headers, symbol table, a few
 * sections and one function's code, never the whole file (Go binaries with embedded assets reach
 * gigabytes). Every read reopens the file and checks it is still the one first opened, so pieces
 * of two different builds are never mixed.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { LabError } from '../../core/errors.ts';
import { checkRange, ElfTruncatedError, type ByteSource } from './elf.ts';
import { sameStamp, stampOf, type FileStamp } from './file-identity.ts';

export class FileSource implements ByteSource {
  private constructor(
    readonly path: string,
    /** The file as it was when opened: every later read must find the same one. */
    readonly stamp: FileStamp,
  ) {}

  /** Opens `path` (errno errors pass through for the caller to word). */
  static open(path: string): FileSource {
    const fd = openSync(path, 'r');
    try {
      return new FileSource(path, stampOf(fstatSync(fd, { bigint: true })));
    } finally {
      closeSync(fd);
    }
  }

  get size(): number {
    return this.stamp.size;
  }

  read(offset: number, length: number, what: string): Uint8Array {
    checkRange(offset, length, this.size, what, 'file');
    const fd = openSync(this.path, 'r');
    try {
      if (!sameStamp(stampOf(fstatSync(fd, { bigint: true })), this.stamp)) throw new FileChangedError(this.path);
      const buf = Buffer.allocUnsafe(length);
      for (let got = 0; got < length; ) {
        const n = readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) throw new ElfTruncatedError(offset + length, offset + got);
        got += n;
      }
      return buf;
    } finally {
      closeSync(fd);
    }
  }
}

/** The file was rebuilt or rewritten between two reads of it. */
export class FileChangedError extends LabError {
  constructor(path: string) {
    super(
      `${basename(path)} changed while it was being read (rebuilt or copied over)`,
      'wait for whatever writes it to finish, then open it again',
    );
  }
}
