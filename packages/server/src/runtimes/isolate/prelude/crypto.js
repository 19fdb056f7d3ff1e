// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment: crypto.getRandomValues and crypto.randomUUID, fed by the host's CSPRNG.
// Bytes are fetched in blocks so a UUID does not cost a round trip to the host each time.
// No crypto.subtle.

const RANDOM_BLOCK_BYTES = 4096;
const MAX_RANDOM_BYTES = 65_536;
let randomPool = new Uint8Array(0);
let randomOffset = 0;

function takeRandomBytes(count) {
  if (count > RANDOM_BLOCK_BYTES) return hostRandom(count);
  if (randomOffset + count > randomPool.length) {
    randomPool = hostRandom(RANDOM_BLOCK_BYTES);
    randomOffset = 0;
  }
  const bytes = randomPool.subarray(randomOffset, randomOffset + count);
  randomOffset += count;
  return bytes;
}

const INTEGER_ARRAYS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  BigInt64Array,
  BigUint64Array,
];

const faasCrypto = {
  getRandomValues(array) {
    if (!INTEGER_ARRAYS.some((Type) => array instanceof Type)) {
      throw new DOMException('The data argument must be an integer-type TypedArray', 'TypeMismatchError');
    }
    if (array.byteLength > MAX_RANDOM_BYTES) {
      throw new DOMException(
        `The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (${MAX_RANDOM_BYTES})`,
        'QuotaExceededError',
      );
    }
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(takeRandomBytes(array.byteLength));
    return array;
  },
  randomUUID() {
    const b = Uint8Array.from(takeRandomBytes(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (byte) => byte.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  },
};

defineGlobal('crypto', Object.freeze(faasCrypto));
