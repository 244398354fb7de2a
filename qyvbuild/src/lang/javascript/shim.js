// Written by qyv: the Node.js APIs a command-line script uses, served by WASI, around the
// bundled program, which runs when the component runs (not while componentize-js snapshots
// this module at build time).
import { getArguments, getEnvironment } from 'wasi:cli/environment@0.2.12';
import { exitWithCode } from 'wasi:cli/exit@0.2.12';
import { getStdin } from 'wasi:cli/stdin@0.2.12';
import { getStdout } from 'wasi:cli/stdout@0.2.12';
import { getStderr } from 'wasi:cli/stderr@0.2.12';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CONFIG = __QYV_CONFIG__;

function toBytes(data, encoding) {
  if (typeof data === 'string') {
    return encoding === 'base64' ? Buffer.from(data, 'base64') : encoder.encode(data);
  }
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return encoder.encode(String(data));
}

function writeAll(stream, bytes) {
  for (let i = 0; i < bytes.length; i += 4096) {
    stream.blockingWriteAndFlush(bytes.subarray(i, i + 4096));
  }
}

// ---- Buffer (the part scripts use) -------------------------------------------------------
class Buffer extends Uint8Array {
  static from(value, encoding) {
    if (typeof value === 'string') {
      if (encoding === 'base64') {
        const bin = atob(value);
        const b = new Buffer(bin.length);
        for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
        return b;
      }
      if (encoding === 'hex') {
        const b = new Buffer(value.length >> 1);
        for (let i = 0; i < b.length; i++) b[i] = parseInt(value.substr(i * 2, 2), 16);
        return b;
      }
      const bytes = encoder.encode(value);
      const b = new Buffer(bytes.length);
      b.set(bytes);
      return b;
    }
    if (value instanceof ArrayBuffer) return new Buffer(value);
    const b = new Buffer(value.length);
    b.set(value);
    return b;
  }
  static alloc(size, fill) {
    const b = new Buffer(size);
    if (fill !== undefined) b.fill(typeof fill === 'string' ? fill.charCodeAt(0) : fill);
    return b;
  }
  static isBuffer(value) {
    return value instanceof Buffer;
  }
  static byteLength(value) {
    return typeof value === 'string' ? encoder.encode(value).length : value.byteLength;
  }
  static concat(list) {
    const b = new Buffer(list.reduce((n, x) => n + x.length, 0));
    let at = 0;
    for (const x of list) {
      b.set(x, at);
      at += x.length;
    }
    return b;
  }
  toString(encoding, start, end) {
    const bytes = this.subarray(start || 0, end === undefined ? this.length : end);
    if (encoding === 'base64') return btoa(String.fromCharCode(...bytes));
    if (encoding === 'hex') return Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join('');
    return decoder.decode(bytes);
  }
}

// ---- util.format / inspect, as Node prints values ----------------------------------------
function inspect(value, opts, depth = 0, seen = []) {
  const nested = depth > 0;
  switch (typeof value) {
    case 'string':
      return nested ? `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'` : value;
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return value.toString();
    case 'function':
      return value.name ? `[Function: ${value.name}]` : '[Function (anonymous)]';
    case 'boolean':
      return String(value);
  }
  if (value === null) return 'null';
  if (seen.includes(value)) return '[Circular *1]';
  if (value instanceof Error) return value.stack ? `${value.name}: ${value.message}\n${indentStack(value.stack)}` : String(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof RegExp) return String(value);
  if (depth > 2) return Array.isArray(value) ? '[Array]' : '[Object]';
  const inner = [...seen, value];
  const show = (v) => inspect(v, opts, depth + 1, inner);
  let parts;
  let open;
  let close;
  if (Array.isArray(value)) {
    parts = value.slice(0, 100).map(show);
    if (value.length > 100) parts.push(`... ${value.length - 100} more items`);
    if (!parts.length) return '[]';
    [open, close] = ['[', ']'];
  } else if (value instanceof Map) {
    parts = [...value].map(([k, v]) => `${show(k)} => ${show(v)}`);
    [open, close] = [`Map(${value.size}) {`, '}'];
    if (!parts.length) return `Map(0) {}`;
  } else if (value instanceof Set) {
    parts = [...value].map(show);
    [open, close] = [`Set(${value.size}) {`, '}'];
    if (!parts.length) return `Set(0) {}`;
  } else {
    const keys = Object.keys(value);
    parts = keys.map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : `'${k}'`}: ${show(value[k])}`);
    const name = value.constructor && value.constructor !== Object && value.constructor.name;
    if (!parts.length) return name ? `${name} {}` : '{}';
    [open, close] = [name ? `${name} {` : '{', '}'];
  }
  const line = `${open} ${parts.join(', ')} ${close}`;
  if (line.length + depth * 2 <= 72 && !line.includes('\n')) return line;
  const pad = '  '.repeat(depth + 1);
  return `${open}\n${pad}${parts.join(`,\n${pad}`)}\n${'  '.repeat(depth)}${close}`;
}

function indentStack(stack) {
  return stack
    .trim()
    .split('\n')
    .map((l) => `    at ${l}`)
    .join('\n');
}

function format(...args) {
  let out = '';
  let rest = args;
  if (typeof args[0] === 'string' && args[0].includes('%')) {
    let i = 1;
    out = args[0].replace(/%[sdifjoO%]/g, (m) => {
      if (m === '%%') return '%';
      if (i >= args.length) return m;
      const v = args[i++];
      switch (m) {
        case '%s': return typeof v === 'string' ? v : inspect(v, {}, 1);
        case '%d': case '%i': return String(m === '%i' ? parseInt(v) : Number(v));
        case '%f': return String(parseFloat(v));
        case '%j': return JSON.stringify(v);
        default: return inspect(v, {}, 1);
      }
    });
    rest = args.slice(i);
    if (rest.length) out += ' ';
  }
  return out + rest.map((v) => inspect(v)).join(' ');
}

// ---- stdio and the console --------------------------------------------------------------
function makeWritable(get) {
  let stream;
  return {
    isTTY: false,
    write(chunk, encoding, cb) {
      stream ??= get();
      writeAll(stream, toBytes(chunk, typeof encoding === 'string' ? encoding : undefined));
      const done = typeof encoding === 'function' ? encoding : cb;
      if (done) queueMicrotask(done);
      return true;
    },
    end(chunk) {
      if (chunk !== undefined) this.write(chunk);
    },
    on() { return this; },
    once() { return this; },
  };
}

function readStdin() {
  const stdin = getStdin();
  const chunks = [];
  for (;;) {
    let bytes;
    try {
      bytes = stdin.blockingRead(65536n);
    } catch (e) {
      break; // closed: the end of input
    }
    if (bytes.length) chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

function makeStdin() {
  const listeners = { data: [], end: [] };
  let encoding;
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    setTimeout(() => {
      const all = readStdin();
      if (all.length) for (const f of listeners.data) f(encoding ? all.toString() : all);
      for (const f of listeners.end) f();
    }, 0);
  };
  return {
    isTTY: false,
    fd: 0,
    setEncoding(e) { encoding = e || 'utf8'; return this; },
    on(event, f) {
      (listeners[event] ??= []).push(f);
      if (event === 'data' || event === 'end' || event === 'readable') start();
      return this;
    },
    once(event, f) { return this.on(event, f); },
    resume() { start(); return this; },
    pause() { return this; },
    async *[Symbol.asyncIterator]() {
      const all = readStdin();
      if (all.length) yield encoding ? all.toString() : all;
    },
  };
}

// ---- the file system, under the granted directories --------------------------------------
const ERRNO = {
  'no-entry': ['ENOENT', 'no such file or directory'],
  access: ['EACCES', 'permission denied'],
  'not-permitted': ['EPERM', 'operation not permitted'],
  'read-only': ['EROFS', 'read-only file system'],
  exist: ['EEXIST', 'file already exists'],
  'is-directory': ['EISDIR', 'illegal operation on a directory'],
  'not-directory': ['ENOTDIR', 'not a directory'],
  'not-empty': ['ENOTEMPTY', 'directory not empty'],
};

function fsError(e, syscall, path) {
  const tag = e && (e.payload ?? e.message);
  const [code, text] = ERRNO[tag] || ['EIO', String(tag)];
  const err = new Error(`${code}: ${text}, ${syscall} '${path}'`);
  Object.assign(err, { code, syscall, path, errno: -1 });
  return err;
}

let preopens;
function locate(path, syscall) {
  const full = pathModule.resolve(String(path instanceof URL ? path.pathname : path));
  preopens ??= getDirectories().map(([d, p]) => [d, pathModule.resolve(p)]);
  let best;
  for (const [dir, at] of preopens) {
    if ((full === at || full.startsWith(at === '/' ? '/' : `${at}/`)) && (!best || at.length > best[1].length)) best = [dir, at];
  }
  if (!best) throw fsError({ payload: 'no-entry' }, syscall, path);
  const rel = full === best[1] ? '.' : full.slice(best[1] === '/' ? 1 : best[1].length + 1);
  return [best[0], rel];
}

function open(path, syscall, openFlags, descriptorFlags) {
  const [dir, rel] = locate(path, syscall);
  try {
    return dir.openAt({ symlinkFollow: true }, rel, openFlags, descriptorFlags);
  } catch (e) {
    throw fsError(e, syscall, path);
  }
}

function encodingOf(options) {
  return typeof options === 'string' ? options : options && options.encoding;
}

function readFileSync(path, options) {
  const encoding = encodingOf(options);
  let data;
  if (path === 0 || path === '/dev/stdin') {
    data = readStdin();
  } else {
    const file = open(path, 'open', {}, { read: true });
    const chunks = [];
    let offset = 0n;
    try {
      for (;;) {
        const [bytes, eof] = file.read(65536n, offset);
        chunks.push(bytes);
        offset += BigInt(bytes.length);
        if (eof || bytes.length === 0) break;
      }
    } catch (e) {
      throw fsError(e, 'read', path);
    }
    data = Buffer.concat(chunks);
  }
  return encoding ? data.toString(encoding) : data;
}

function writeFileSync(path, data, options, append = false) {
  if (path === 1 || path === '/dev/stdout') return process.stdout.write(data);
  if (path === 2 || path === '/dev/stderr') return process.stderr.write(data);
  const file = open(path, 'open', { create: true, truncate: !append }, { write: true });
  const bytes = toBytes(data, encodingOf(options));
  try {
    let offset = append ? file.stat().size : 0n;
    for (let i = 0; i < bytes.length; ) {
      const n = Number(file.write(bytes.subarray(i, i + 65536), offset));
      i += n;
      offset += BigInt(n);
    }
  } catch (e) {
    throw fsError(e, 'write', path);
  }
}

function statSync(path, options) {
  let stat;
  try {
    const [dir, rel] = locate(path, 'stat');
    stat = dir.statAt({ symlinkFollow: true }, rel);
  } catch (e) {
    if (options && options.throwIfNoEntry === false) return undefined;
    throw e.code ? e : fsError(e, 'stat', path);
  }
  const ms = (t) => (t ? Number(t.seconds) * 1000 + Math.floor(t.nanoseconds / 1e6) : 0);
  return {
    size: Number(stat.size),
    mtimeMs: ms(stat.dataModificationTimestamp),
    mtime: new Date(ms(stat.dataModificationTimestamp)),
    atime: new Date(ms(stat.dataAccessTimestamp)),
    ctime: new Date(ms(stat.statusChangeTimestamp)),
    isFile: () => stat.type === 'regular-file',
    isDirectory: () => stat.type === 'directory',
    isSymbolicLink: () => stat.type === 'symbolic-link',
  };
}

function existsSync(path) {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function readdirSync(path, options) {
  const [dir, rel] = locate(path, 'scandir');
  const names = [];
  try {
    const target = rel === '.' ? dir : dir.openAt({ symlinkFollow: true }, rel, { directory: true }, { read: true });
    const entries = target.readDirectory();
    let entry;
    while ((entry = entries.readDirectoryEntry())) names.push(entry);
  } catch (e) {
    throw fsError(e, 'scandir', path);
  }
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (options && options.withFileTypes) {
    return names.map((e) => ({
      name: e.name,
      isFile: () => e.type === 'regular-file',
      isDirectory: () => e.type === 'directory',
      isSymbolicLink: () => e.type === 'symbolic-link',
    }));
  }
  return names.map((e) => e.name);
}

function mkdirSync(path, options) {
  if (options && options.recursive) {
    const parent = pathModule.dirname(pathModule.resolve(path));
    if (parent !== path && !existsSync(parent)) mkdirSync(parent, options);
    if (existsSync(path)) return;
  }
  const [dir, rel] = locate(path, 'mkdir');
  try {
    dir.createDirectoryAt(rel);
  } catch (e) {
    throw fsError(e, 'mkdir', path);
  }
}

function unlinkSync(path) {
  const [dir, rel] = locate(path, 'unlink');
  try {
    dir.unlinkFileAt(rel);
  } catch (e) {
    throw fsError(e, 'unlink', path);
  }
}

const fsModule = {
  readFileSync,
  writeFileSync: (p, d, o) => writeFileSync(p, d, o),
  appendFileSync: (p, d, o) => writeFileSync(p, d, o, true),
  existsSync,
  readdirSync,
  statSync,
  lstatSync: statSync,
  mkdirSync,
  unlinkSync,
  constants: { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1 },
};
const promisify = (f) => (...args) => new Promise((ok, fail) => { try { ok(f(...args)); } catch (e) { fail(e); } });
fsModule.promises = {
  readFile: promisify(readFileSync),
  writeFile: promisify(fsModule.writeFileSync),
  appendFile: promisify(fsModule.appendFileSync),
  readdir: promisify(readdirSync),
  stat: promisify(statSync),
  mkdir: promisify(mkdirSync),
  unlink: promisify(unlinkSync),
};

// ---- path (POSIX) -------------------------------------------------------------------------
function normalizeParts(parts, absolute) {
  const out = [];
  for (const p of parts) {
    if (!p || p === '.') continue;
    if (p === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
    } else out.push(p);
  }
  return out;
}
const pathModule = {
  sep: '/',
  delimiter: ':',
  isAbsolute: (p) => p.startsWith('/'),
  normalize(p) {
    if (!p) return '.';
    const abs = p.startsWith('/');
    const joined = normalizeParts(p.split('/'), abs).join('/');
    const trail = p.endsWith('/') && joined ? '/' : '';
    return (abs ? '/' : '') + joined + trail || (abs ? '/' : '.');
  },
  join: (...parts) => pathModule.normalize(parts.filter((p) => p !== '').join('/') || '.'),
  resolve(...parts) {
    let path = '';
    for (let i = parts.length - 1; i >= 0 && !path.startsWith('/'); i--) {
      if (parts[i]) path = path ? `${parts[i]}/${path}` : parts[i];
    }
    if (!path.startsWith('/')) path = `${process.cwd()}/${path}`;
    return `/${normalizeParts(path.split('/'), true).join('/')}`;
  },
  dirname(p) {
    const i = p.replace(/\/+$/, '').lastIndexOf('/');
    return i < 0 ? '.' : i === 0 ? '/' : p.slice(0, i);
  },
  basename(p, ext) {
    const base = p.replace(/\/+$/, '').split('/').pop();
    return ext && base.endsWith(ext) && base !== ext ? base.slice(0, -ext.length) : base;
  },
  extname(p) {
    const base = pathModule.basename(p);
    const i = base.lastIndexOf('.');
    return i <= 0 ? '' : base.slice(i);
  },
  relative(from, to) {
    const a = pathModule.resolve(from).split('/').filter(Boolean);
    const b = pathModule.resolve(to).split('/').filter(Boolean);
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return [...Array(a.length - i).fill('..'), ...b.slice(i)].join('/');
  },
  parse(p) {
    const base = pathModule.basename(p);
    const ext = pathModule.extname(p);
    return { root: p.startsWith('/') ? '/' : '', dir: pathModule.dirname(p), base, ext, name: ext ? base.slice(0, -ext.length) : base };
  },
  format: (o) => (o.dir ? `${o.dir}/` : o.root || '') + (o.base || `${o.name || ''}${o.ext || ''}`),
};
pathModule.posix = pathModule;

// ---- events -------------------------------------------------------------------------------
class EventEmitter {
  on(event, f) {
    ((this._events ??= {})[event] ??= []).push(f);
    return this;
  }
  addListener(event, f) { return this.on(event, f); }
  once(event, f) {
    const g = (...a) => { this.off(event, g); f.apply(this, a); };
    return this.on(event, g);
  }
  off(event, f) {
    const list = this._events && this._events[event];
    if (list) this._events[event] = list.filter((x) => x !== f);
    return this;
  }
  removeListener(event, f) { return this.off(event, f); }
  removeAllListeners(event) {
    if (event === undefined) this._events = {};
    else if (this._events) delete this._events[event];
    return this;
  }
  emit(event, ...args) {
    const list = this._events && this._events[event];
    if (!list || !list.length) {
      if (event === 'error') throw args[0];
      return false;
    }
    for (const f of [...list]) f.apply(this, args);
    return true;
  }
  listenerCount(event) { return (this._events && this._events[event] || []).length; }
  listeners(event) { return [...(this._events && this._events[event] || [])]; }
  setMaxListeners() { return this; }
}
EventEmitter.EventEmitter = EventEmitter;
EventEmitter.default = EventEmitter;

// ---- process -----------------------------------------------------------------------------
class ExitRequest {
  constructor(code) { this.code = code; }
}
const process = Object.assign(new EventEmitter(), {
  // Set by run(): read here, they would be the build's.
  argv: [],
  argv0: 'node',
  execArgv: [],
  execPath: '/usr/bin/node',
  env: {},
  platform: 'wasi',
  arch: 'wasm32',
  pid: 1,
  ppid: 0,
  title: CONFIG.name,
  version: 'v20.0.0',
  versions: { node: '20.0.0' },
  release: { name: 'node' },
  exitCode: undefined,
  stdout: makeWritable(getStdout),
  stderr: makeWritable(getStderr),
  stdin: makeStdin(),
  cwd: () => '/',
  chdir() { throw new Error('process.chdir is not available in a WebAssembly component'); },
  exit(code) {
    throw new ExitRequest(code ?? process.exitCode ?? 0);
  },
  nextTick: (f, ...a) => queueMicrotask(() => f(...a)),
  hrtime: Object.assign(
    (prev) => {
      const t = performance.now();
      const now = [Math.floor(t / 1000), Math.floor((t % 1000) * 1e6)];
      return prev ? [now[0] - prev[0], now[1] - prev[1]] : now;
    },
    { bigint: () => BigInt(Math.floor(performance.now() * 1e6)) },
  ),
  uptime: () => performance.now() / 1000,
  memoryUsage: () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0 }),
  emitWarning: (w) => process.stderr.write(`(node) Warning: ${w}\n`),
  umask: () => 0o22,
});

const consoleModule = {
  log: (...a) => process.stdout.write(`${format(...a)}\n`),
  info: (...a) => process.stdout.write(`${format(...a)}\n`),
  debug: (...a) => process.stdout.write(`${format(...a)}\n`),
  error: (...a) => process.stderr.write(`${format(...a)}\n`),
  warn: (...a) => process.stderr.write(`${format(...a)}\n`),
  trace: (...a) => process.stderr.write(`Trace: ${format(...a)}\n`),
  dir: (v) => process.stdout.write(`${inspect(v)}\n`),
  table: (v) => process.stdout.write(`${inspect(v)}\n`),
  assert: (ok, ...a) => { if (!ok) process.stderr.write(`Assertion failed${a.length ? `: ${format(...a)}` : ''}\n`); },
  time() {},
  timeEnd() {},
  group() {},
  groupEnd() {},
};

// ---- require ------------------------------------------------------------------------------
const UNAVAILABLE = {
  child_process: 'a WebAssembly component cannot start processes',
  cluster: 'a WebAssembly component cannot start processes',
  worker_threads: 'a WebAssembly component has no threads',
  net: 'qyv serves no sockets to JavaScript',
  dgram: 'qyv serves no sockets to JavaScript',
  tls: 'qyv serves no sockets to JavaScript',
  http: 'qyv serves no HTTP to JavaScript',
  https: 'qyv serves no HTTP to JavaScript',
  http2: 'qyv serves no HTTP to JavaScript',
  dns: 'qyv serves no name lookups to JavaScript',
  inspector: 'there is no inspector in a component',
  vm: 'there is no second JavaScript context in a component',
  v8: 'the engine is SpiderMonkey, not V8',
};

function unavailable(name) {
  const why = UNAVAILABLE[name] || 'qyv does not provide this Node.js module';
  const fail = (what) => () => {
    throw new Error(`the Node.js module '${name}' is not available under qyv (${what}): ${why}`);
  };
  return new Proxy(function () {}, {
    get(_, prop) {
      if (prop === '__esModule' || prop === 'then' || typeof prop === 'symbol') return undefined;
      if (prop === 'default') return unavailable(name);
      return fail(`${name}.${String(prop)}`);
    },
    apply() { fail(name)(); },
    construct() { fail(name)(); },
  });
}

const urlModule = {
  URL,
  URLSearchParams,
  fileURLToPath: (u) => decodeURIComponent(new URL(String(u)).pathname),
  pathToFileURL: (p) => new URL(`file://${encodeURI(pathModule.resolve(p))}`),
};
const osModule = {
  EOL: '\n',
  platform: () => 'wasi',
  type: () => 'WASI',
  arch: () => 'wasm32',
  release: () => '0.2',
  homedir: () => process.env.HOME || '/',
  tmpdir: () => process.env.TMPDIR || '/tmp',
  hostname: () => 'localhost',
  cpus: () => [],
  totalmem: () => 0,
  freemem: () => 0,
  endianness: () => 'LE',
};
const utilModule = {
  format,
  inspect: (v) => inspect(v, {}, 1),
  inherits(ctor, superCtor) {
    Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
    Object.setPrototypeOf(ctor, superCtor);
  },
  deprecate: (f) => f,
  promisify: (f) => (...a) => new Promise((ok, fail) => f(...a, (e, v) => (e ? fail(e) : ok(v)))),
  isDeepStrictEqual: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  types: { isPromise: (p) => p instanceof Promise, isRegExp: (r) => r instanceof RegExp, isDate: (d) => d instanceof Date },
  TextEncoder,
  TextDecoder,
};
const BUILTINS = {
  fs: fsModule,
  'fs/promises': fsModule.promises,
  path: pathModule,
  'path/posix': pathModule,
  process,
  events: EventEmitter,
  util: utilModule,
  os: osModule,
  url: urlModule,
  buffer: { Buffer },
  tty: { isatty: () => false },
  assert: Object.assign(
    (ok, message) => { if (!ok) throw new Error(message || 'Assertion failed'); },
    { ok: (ok, message) => { if (!ok) throw new Error(message || 'Assertion failed'); }, strictEqual: (a, b, m) => { if (a !== b) throw new Error(m || `Expected ${inspect(a, {}, 1)} to equal ${inspect(b, {}, 1)}`); } },
  ),
  string_decoder: { StringDecoder: class { constructor() { this.d = new TextDecoder(); } write(b) { return this.d.decode(b, { stream: true }); } end(b) { return b ? this.d.decode(b) : ''; } } },
  timers: { setTimeout, clearTimeout, setInterval, clearInterval, setImmediate: (f, ...a) => setTimeout(f, 0, ...a) },
};

const NODE_BUILTINS = ['assert', 'async_hooks', 'buffer', 'child_process', 'cluster', 'console',
  'constants', 'crypto', 'dgram', 'diagnostics_channel', 'dns', 'domain', 'events', 'fs', 'http',
  'http2', 'https', 'inspector', 'module', 'net', 'os', 'path', 'perf_hooks', 'process', 'punycode',
  'querystring', 'readline', 'repl', 'stream', 'string_decoder', 'sys', 'timers', 'tls',
  'trace_events', 'tty', 'url', 'util', 'v8', 'vm', 'wasi', 'worker_threads', 'zlib'];

function requireBuiltin(name) {
  const bare = String(name).replace(/^node:/, '');
  if (Object.prototype.hasOwnProperty.call(BUILTINS, bare)) return BUILTINS[bare];
  if (name.startsWith('node:') || NODE_BUILTINS.includes(bare)) return unavailable(bare);
  const err = new Error(`Cannot find module '${name}' (it was not bundled: qyv bundles what the program imports when it is built)`);
  err.code = 'MODULE_NOT_FOUND';
  throw err;
}

// ---- running the program -----------------------------------------------------------------
function exitCodeOf(code) {
  const n = Number(code);
  return Number.isInteger(n) ? n & 0xff : 1;
}

/// The program's frames of a stack: not the shim's, not componentize-js's.
function programFrames(stack) {
  const lines = stack.trim().split('\n');
  const end = lines.findIndex((l) => l.startsWith('run@') || l.includes('initializer.js'));
  return lines.slice(0, end < 0 ? lines.length : end).filter((l) => !l.startsWith('unavailable/')).join('\n');
}

function report(error) {
  if (error instanceof Error) {
    const frames = error.stack ? programFrames(error.stack) : '';
    const stack = frames ? `\n${indentStack(frames)}` : '';
    process.stderr.write(`Uncaught ${error.name}: ${error.message}${stack}\n`);
  } else {
    process.stderr.write(`Uncaught ${inspect(error, {}, 1)}\n`);
  }
}

function finish(code) {
  process.emit('exit', code);
  if (code !== 0) exitWithCode(code);
}

// Timers keep the program alive, as in Node: run() waits for the last one.
const pendingTimers = new Set();
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetInterval = globalThis.setInterval;
const realClearInterval = globalThis.clearInterval;
let failure;
function guard(f) {
  return (...a) => {
    try {
      return f(...a);
    } catch (e) {
      failure ??= { error: e };
    }
  };
}
globalThis.setTimeout = (f, ms, ...a) => {
  const id = realSetTimeout(guard(() => { pendingTimers.delete(id); f(...a); }), ms);
  pendingTimers.add(id);
  return id;
};
globalThis.clearTimeout = (id) => { pendingTimers.delete(id); realClearTimeout(id); };
globalThis.setInterval = (f, ms, ...a) => {
  const id = realSetInterval(guard(() => f(...a)), ms);
  pendingTimers.add(id);
  return id;
};
globalThis.clearInterval = (id) => { pendingTimers.delete(id); realClearInterval(id); };
globalThis.setImmediate = (f, ...a) => globalThis.setTimeout(f, 0, ...a);
globalThis.process = process;
globalThis.Buffer = Buffer;
globalThis.global = globalThis;
for (const key of Object.keys(consoleModule)) console[key] = consoleModule[key];

function program(require, module, exports, __filename, __dirname) {
__QYV_PROGRAM__
}

export const run = {
  async run() {
    process.argv = ['node', getArguments()[0] ?? CONFIG.name, ...getArguments().slice(1)];
    process.env = Object.fromEntries(getEnvironment());
    const module = { exports: {} };
    let code = 0;
    try {
      program(requireBuiltin, module, module.exports, `/${CONFIG.entry}`, pathModule.dirname(`/${CONFIG.entry}`));
      for (;;) {
        // Let promises and timers run until nothing is left or the program failed.
        await new Promise((ok) => realSetTimeout(ok, 0));
        if (failure) throw failure.error;
        if (!pendingTimers.size) break;
      }
      code = exitCodeOf(process.exitCode ?? 0);
    } catch (e) {
      if (e instanceof ExitRequest) {
        code = exitCodeOf(e.code);
      } else {
        report(e);
        code = 1;
      }
    }
    finish(code);
  },
};
