// http-javascript: an HTTP handler for the `wasi:http/proxy` world, built by componentize-js. It
// is written as service workers and edge functions are: a `fetch` event listener that
// answers with a `Response`. The host sends each request to it in a fresh instance.
//
// - `GET /hello?name=x` answers `Hello, x!`
// - `POST /echo` streams the request body back
// - anything else is 404

const TEXT = { "content-type": "text/plain; charset=utf-8" };

async function handle(request) {
  const url = new URL(request.url);
  if (request.method === "GET" && url.pathname === "/hello") {
    const name = url.searchParams.get("name") ?? "world";
    return new Response(`Hello, ${name}!\n`, { headers: TEXT });
  }
  if (request.method === "POST" && url.pathname === "/echo") {
    // The body is a stream: it goes back as it arrives, never held whole.
    return new Response(request.body, { headers: TEXT });
  }
  return new Response("not found\n", { status: 404, headers: TEXT });
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
