// The generated parts of the documentation sit between `<!-- NAME -->` and `<!-- /NAME -->` (NAME such as
// `bench:results` or `generated:limits`): their writers replace only what lies between, and their tests read it back.

/** Replaces what lies between `<!-- NAME -->` and `<!-- /NAME -->` in `text` with `content`. */
export function replaceSection(text, name, content) {
  const start = `<!-- ${name} -->`;
  const end = `<!-- /${name} -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`no ${start} … ${end} section to write`);
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}

/** The section `name` of `text` as written, without its markers, or undefined. */
export function sectionOf(text, name) {
  const start = `<!-- ${name} -->\n`;
  const from = text.indexOf(start);
  const to = text.indexOf(`\n<!-- /${name} -->`);
  return from < 0 || to < from ? undefined : text.slice(from + start.length, to);
}
