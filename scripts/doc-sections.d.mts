// Types for doc-sections.mjs, which the tests import.
export function replaceSection(text: string, name: string, content: string): string;
export function sectionOf(text: string, name: string): string | undefined;
