// One sentence pair of a parallel corpus (source and target text).

export interface Pair {
  source: string;
  target: string;
}
