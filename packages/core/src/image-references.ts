// The grammar of an image reference, as the Engine parses one (distribution's reference grammar):
// [host[:port]/]path[/path...][:tag][@digest], the path lowercase. Checked before a name reaches
// the Engine API, whose client puts it into a URL path: a space or a newline there is a client
// error, and `?` or `/` would change which endpoint is called.
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(
  `^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`,
);
/** The Engine's bound on a repository name; with a tag and a digest a reference stays under this. */
const MAX_REFERENCE_LENGTH = 512;

/** Why `image` cannot name an image, or undefined when it can. */
export function imageReferenceProblem(image: string): string | undefined {
  if (image.length > MAX_REFERENCE_LENGTH) return `is longer than ${MAX_REFERENCE_LENGTH} characters`;
  if (!REFERENCE.test(image))
    return 'is not an image reference: [host[:port]/]name[:tag][@digest], the name lowercase letters, digits and . _ - /';
  return undefined;
}
