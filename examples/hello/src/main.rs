fn main() {
    println!("¡Hola desde Qyvol! Hello from hello-qyvol.");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        println!("args: {}", args.join(" "));
    }
}
