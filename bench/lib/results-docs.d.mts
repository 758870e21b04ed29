// Types for results-docs.mjs, which the tests import.
export interface ParsedResults {
  context: string[];
  header: string[];
  rows: string[][];
  notes: string[];
}
export function parseResults(markdown: string): ParsedResults;
export function benchmarksSection(markdown: string): string;
export function readmeHeadline(markdown: string): string;
export const QUOTING_PAGES: readonly { path: string; section: string; make: (markdown: string) => string }[];
export function architecturesSection(markdown: string): string;
export function readmeArchitectures(markdown: string): string;
export const ARCHITECTURES_HEADING: string;
export const ARCHITECTURES_SECTION: string;
export function writeBenchmarkDocs(
  root: string,
  markdown: string,
  pages?: readonly { path: string; section: string; make: (markdown: string) => string }[],
): Promise<void>;
export function writeArchitecturesDocs(root: string, markdown: string): Promise<void>;
