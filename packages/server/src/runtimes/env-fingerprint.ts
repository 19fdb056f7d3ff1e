/** Fingerprints made, per env object: a version's env is one object however often it runs. */
const made = new WeakMap<Readonly<Record<string, string>>, string>();

/**
 * Tells a version's env apart from another's, so a warm instance made with one env (a secret's
 * old value) is not reused for another. Held in memory only, beside the env itself.
 */
export function envFingerprint(env: Readonly<Record<string, string>> | undefined): string {
  if (!env) return '';
  let print = made.get(env);
  if (print === undefined) {
    print = JSON.stringify(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    made.set(env, print);
  }
  return print;
}
