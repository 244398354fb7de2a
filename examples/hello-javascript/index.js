// hello-javascript: a Node.js script that `qyv build` makes a WASI component and `qyv run` runs, as
// `node index.js` would: process.argv, process.env (the granted variables), stdin/stdout/stderr,
// fs.*Sync under the granted directories, path, process.exit. Dependencies go in package.json
// (pure-JavaScript npm packages, bundled by esbuild).
//
// To export WIT interfaces of your own instead, export them from a module against a `wit/`
// directory (see qyv's README).

// GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
const greeting = process.env.GREETING ?? 'Hello';
console.log(`${greeting} from hello-javascript!`);
console.log(['args:', ...process.argv.slice(2)].join(' '));
