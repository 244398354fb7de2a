// hello-assemblyscript: a WASI command built with `qyv build` (asc with the WASI shim) and run with `qyv run`.

// GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
const greeting = process.env.has("GREETING") ? process.env.get("GREETING") : "Hello";
console.log(greeting + " from hello-assemblyscript!");
let line = "args:";
const argv = process.argv;
for (let i = 1; i < argv.length; i++) {
  line += " " + argv[i];
}
console.log(line);
