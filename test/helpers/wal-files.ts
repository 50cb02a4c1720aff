/**
 * SQLite's WAL files read as SQLite documents them, for tests that check
 * what a checkpoint did without asking the connection that did it.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** The first `bytes` bytes of a file, read without the rest (a WAL can be megabytes). */
export function fileStart(file: string, bytes: number): Buffer {
  const head = Buffer.alloc(bytes);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, bytes, 0);
  } finally {
    closeSync(fd);
  }
  return head;
}

/**
 * The WAL header's checkpoint sequence (bytes 12-15, big-endian): it moves
 * on each time a writer starts the WAL over from its first frame.
 */
export function walSequence(dbFile: string): number {
  return fileStart(`${dbFile}-wal`, 16).readUInt32BE(12);
}

/**
 * Whether a checkpoint has copied every frame of the WAL into the database,
 * read from the WAL index (`-shm`, native byte order): the header's mxFrame
 * at byte 16, the checkpoint's nBackfill at byte 96.
 */
export function walBackfilled(dbFile: string): boolean {
  const shm = fileStart(`${dbFile}-shm`, 100);
  const mxFrame = shm.readUInt32LE(16);
  return mxFrame > 0 && shm.readUInt32LE(96) === mxFrame;
}

/** The WAL's frames since it last started over (the WAL index's mxFrame). */
export function walFrames(dbFile: string): number {
  return fileStart(`${dbFile}-shm`, 20).readUInt32LE(16);
}
