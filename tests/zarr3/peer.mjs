// peer.mjs - zarrita (a Zarr v3 implementation in JavaScript) as the peer
// of cask's Zarr v3 interop test (tests/zarr3_check.py).
//   node peer.mjs write DIR   stores written by zarrita, one per codec
//                             chain it writes, with DIR/NAME.bin (the
//                             values, little-endian C order) and
//                             DIR/manifest.json ([{name, dtype, shape}])
//   node peer.mjs read STORE OUT.bin
//                             the array at STORE read by zarrita into
//                             OUT.bin; prints {"dtype", "shape", "stride"}
//                             (strides in elements of OUT.bin's layout)
//   node peer.mjs version     zarrita's version
import * as fs from "node:fs";
import * as zlib from "node:zlib";
import * as path from "node:path";
import FileSystemStore from "@zarrita/storage/fs";
import * as zarr from "zarrita";

// zarrita 0.7 writes no crc32c (and reads it without checking: the
// checksums are tested against stores made by tests/zarr3_check.py).
// zarrita 0.7 decodes gzip but does not encode it: its own gzip codec
// for reading, with an encoder from Node's zlib for writing.
const { GzipCodec } = await import("zarrita/dist/src/codecs/gzip.js").catch(() => ({}));
class GzipWithEncode {
  kind = "bytes_to_bytes";
  constructor(level) { this.level = level; this.reader = GzipCodec ? new GzipCodec() : null; }
  static fromConfig(c) { return new GzipWithEncode(c?.level ?? 5); }
  encode(b) { return new Uint8Array(zlib.gzipSync(b, { level: this.level })); }
  decode(b) { return this.reader ? this.reader.decode(b) : new Uint8Array(zlib.gunzipSync(b)); }
}
zarr.registry.set("gzip", () => GzipWithEncode);

const typed = {
  float64: Float64Array, float32: Float32Array, int64: BigInt64Array,
  int32: Int32Array, uint8: Uint8Array, bool: Uint8Array,
};

// Distinct values that use every byte of the type; NaN in the floats.
function values(dtype, n) {
  const T = typed[dtype], a = new T(n);
  for (let i = 0; i < n; i++) {
    if (dtype === "int64") a[i] = BigInt(i) * 0x0123456789abn - 5000000000n;
    else if (dtype === "bool") a[i] = i % 3 === 1 ? 1 : 0;
    else if (dtype === "uint8") a[i] = (i * 37 + 3) & 255;
    else if (dtype === "int32") a[i] = (i * 2654435761) | 0;
    else a[i] = i % 11 === 5 ? NaN : i * 1.25 - 3.5e5;
  }
  return a;
}

const bytes = (endian) => ({ name: "bytes", configuration: { endian } });
const cases = [
  { name: "raw_f8", dtype: "float64", shape: [13, 9], chunks: [4, 4], codecs: [bytes("little")] },
  { name: "gzip_i4", dtype: "int32", shape: [13, 9], chunks: [5, 3],
    codecs: [bytes("little"), { name: "gzip", configuration: { level: 5 } }] },
  { name: "big_f4", dtype: "float32", shape: [7, 6, 5], chunks: [3, 4, 2], codecs: [bytes("big")] },
  { name: "transpose_gzip_i8", dtype: "int64", shape: [10, 7], chunks: [4, 3],
    codecs: [{ name: "transpose", configuration: { order: [1, 0] } }, bytes("little"),
             { name: "gzip", configuration: { level: 1 } }] },
  { name: "zstd_f8", dtype: "float64", shape: [20], chunks: [6],
    codecs: [bytes("little"), { name: "zstd", configuration: { level: 3, checksum: false } }] },
  { name: "blosc_u1", dtype: "uint8", shape: [30, 4], chunks: [8, 4],
    codecs: [bytes("little"), { name: "blosc", configuration: { cname: "lz4", clevel: 5, shuffle: "shuffle", typesize: 1, blocksize: 0 } }] },
  { name: "bool_dot_keys", dtype: "bool", shape: [11], chunks: [4], codecs: [bytes("little")], sep: "." },
];

async function write(dir) {
  const manifest = [];
  for (const c of cases) {
    const loc = zarr.root(new FileSystemStore(path.join(dir, c.name + ".zarr")));
    const n = c.shape.reduce((a, b) => a * b, 1);
    const data = values(c.dtype, n);
    const fillValue = c.dtype === "bool" ? false : c.dtype === "int64" ? 0 : 0;
    const arr = await zarr.create(loc, {
      shape: c.shape, chunkShape: c.chunks, dtype: c.dtype, codecs: c.codecs, fillValue,
      chunkSeparator: c.sep,
    });
    const stride = c.shape.map((_, i) => c.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    const src = c.dtype === "bool" ? new zarr.BoolArray(data.buffer) : data;
    await zarr.set(arr, null, { data: src, shape: c.shape, stride });
    fs.writeFileSync(path.join(dir, c.name + ".bin"), Buffer.from(data.buffer));
    manifest.push({ name: c.name, dtype: c.dtype, shape: c.shape });
  }
  fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest));
}

async function read(store, out) {
  const arr = await zarr.open(zarr.root(new FileSystemStore(store)), { kind: "array" });
  let got = await zarr.get(arr);
  if (got?.data === undefined) { // a 0-d array comes back as its one value
    const one = new typed[arr.dtype](1);
    one[0] = typeof got === "boolean" ? Number(got) : got;
    got = { data: one, shape: [], stride: [] };
  }
  const d = got.data;
  const buf = d instanceof zarr.BoolArray ? Buffer.from(d.buffer ?? d._bytes?.buffer)
                                          : Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  fs.writeFileSync(out, buf);
  // zarrita may hand back a transposed layout: its strides say which
  console.log(JSON.stringify({ dtype: arr.dtype, shape: got.shape, stride: got.stride }));
}

const [cmd, a, b] = process.argv.slice(2);
if (cmd === "write") await write(a);
else if (cmd === "read") await read(a, b);
else if (cmd === "version") {
  const here = path.dirname(new URL(import.meta.url).pathname);
  console.log(JSON.parse(fs.readFileSync(path.join(here, "node_modules/zarrita/package.json"))).version);
} else {
  console.error("usage: node peer.mjs write DIR | read STORE OUT.bin | version");
  process.exit(2);
}
