/**
 * The contract between `bench/index.ts` and a benchmark section (`bench/<name>.ts`).
 *
 * A section module exports `run`, which measures and returns its part of docs/benchmarks.md:
 * a title (rendered as the section's `##` heading) and Markdown (tables and notes, no heading).
 * A section prints its own progress to stderr; the runner prints and stores the Markdown.
 */
export interface BenchSection {
  readonly title: string
  readonly markdown: string
}

/** What `bench/<name>.ts` exports. */
export interface BenchModule {
  run(): Promise<BenchSection>
}
