// One labelled example of a task: what every task reader (files, bundled tasks) yields.

export interface Example {
  text: string;
  /** The second text of a pair task (e.g. a hypothesis after its premise). */
  textPair?: string;
  label: string;
  /** Where the example came from: "file:line", or the bundled text ("brown/ca01:3"). */
  id?: string;
}
