/** Where the follower stands in the log: the end of the last whole line it has counted. */
export interface FilePosition {
  /** The configured log path. */
  path: string;
  /** The inode of the file being read; after a rename rotation it is the rotated file's. */
  inode: number;
  /** Byte offset just after the last whole line counted. */
  offset: number;
}
