// hello-javascript: a WASI command built with `qyv build` (componentize-js) and run with `qyv run`.
// Every WASI 0.2 interface of wasi:cli/command can be imported, like this one.
import { getArguments, getEnvironment } from 'wasi:cli/environment@0.2.12';

export const run = {
  run() {
    // GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
    const env = new Map(getEnvironment());
    const greeting = env.get('GREETING') ?? 'Hello';
    console.log(`${greeting} from hello-javascript!`);
    console.log(['args:', ...getArguments().slice(1)].join(' '));
  },
};
