/**
 * HalfSipHash-1-3 (the keyed hash Linux's hash tables use as `hsiphash`) with a 64-bit result,
 * over a string's UTF-16 units, two to a word. Keyed with a secret seed, where a name lands cannot
 * be computed offline, so names chosen by tenants (functions) cannot be made to crowd one entry
 * window of a table. Not a MAC: only a key as long as the seed stays secret.
 */
export function keyedHashes(key: string, k0: number, k1: number): [number, number] {
  let v0 = k0 | 0;
  let v1 = (k1 ^ 0xee) | 0;
  let v2 = (0x6c796765 ^ k0) | 0;
  let v3 = (0x74656462 ^ k1) | 0;
  const round = () => {
    v0 = (v0 + v1) | 0;
    v1 = rotl(v1, 5) ^ v0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) | 0;
    v3 = rotl(v3, 8) ^ v2;
    v0 = (v0 + v3) | 0;
    v3 = rotl(v3, 7) ^ v0;
    v2 = (v2 + v1) | 0;
    v1 = rotl(v1, 13) ^ v2;
    v2 = rotl(v2, 16);
  };
  const whole = key.length & ~1;
  for (let i = 0; i < whole; i += 2) {
    const m = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16);
    v3 ^= m;
    round();
    v0 ^= m;
  }
  // The length in the last word: strings that differ only by trailing units hash apart.
  const last = (key.length << 16) ^ (whole < key.length ? key.charCodeAt(whole) : 0);
  v3 ^= last;
  round();
  v0 ^= last;
  v2 ^= 0xee;
  round();
  round();
  round();
  const a = v1 ^ v3;
  v1 ^= 0xdd;
  round();
  round();
  round();
  return [a, v1 ^ v3];
}

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}
