//! {{name}}: a WASI command built with `qyv build` and run with `qyv run`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
    let greeting = std::env::var("GREETING").unwrap_or_else(|_| "Hello".to_string());
    println!("{greeting} from {{name}}!");
    println!("args: {}", args.join(" "));
}
