/** Where the follower stands in one file of the log: the end of the last whole line it has counted. */
export interface FilePosition {
  /** Where the file was last seen: the configured log path, or the rotated file's name. */
  path: string;
  /** The file's inode. */
  inode: number;
  /** Byte offset just after the last whole line counted. */
  offset: number;
  /** The file's first bytes, hashed: inodes come back after deletion, so the inode alone is no identity. */
  fingerprint?: Fingerprint;
  /**
   * The file's modification time when it was last read, in ms: files rotated after it were written
   * later, which tells them apart from older ones when the file itself is gone.
   */
  mtimeMs?: number;
}

export interface Fingerprint {
  /** How many of the file's first bytes the hash covers (fewer than FINGERPRINT_BYTES in a young file). */
  bytes: number;
  /** Hex SHA-256 of those bytes. */
  sha256: string;
}
