// One document of a corpus: what every reader of text (files, bundled examples) yields.

export interface Document {
  /** Unique within a corpus: the file path, "path:line" for JSONL, or "NAME/file" for examples. */
  id: string;
  text: string;
  /** The input it came from, as given. */
  source: string;
  /** Extra fields: the other JSONL fields, an example's year or genre, ... */
  meta?: Record<string, unknown>;
  /** The text goes on in the next document (a long text file read in chunks): no </s> between them. */
  continues?: boolean;
}
