//! mnist-rust: classifies a handwritten digit (a 28x28 PGM image) with an ONNX model the host
//! runs through wasi-nn, and prints the digit.
//!
//! Usage: `qyv run . -- [IMAGE] [MODEL] [REPEAT]`: IMAGE defaults to `/data/two.pgm`, MODEL
//! (a name for load-by-name) to `mnist`, REPEAT (inferences, for timing) to 1.

wit_bindgen::generate!({ path: "wit", world: "ml" });

use wasi::nn::errors::Error;
use wasi::nn::graph::load_by_name;
use wasi::nn::tensor::{Tensor, TensorType};

/// The largest image read: a 28x28 PGM is under 1 KB.
const MAX_IMAGE: u64 = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let image = args.first().map_or("/data/two.pgm", String::as_str);
    let model = args.get(1).map_or("mnist", String::as_str);
    let repeat: u32 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1);
    match classify(image, model, repeat) {
        Ok(digit) => println!("{digit}"),
        Err(e) => {
            eprintln!("mnist-rust: {e}");
            std::process::exit(1);
        }
    }
}

fn classify(image: &str, model: &str, repeat: u32) -> Result<usize, String> {
    let (width, height, pixels) = read_pgm(image)?;
    // The model takes the pixels as they are (0 to 255), one image of one channel.
    let data: Vec<u8> = pixels
        .iter()
        .flat_map(|p| f32::from(*p).to_le_bytes())
        .collect();
    let graph = load_by_name(model).map_err(|e| nn_error("load-by-name", e))?;
    let context = graph
        .init_execution_context()
        .map_err(|e| nn_error("init-execution-context", e))?;
    let mut logits = Vec::new();
    for _ in 0..repeat.max(1) {
        let input = Tensor::new(&[1, 1, height, width], TensorType::Fp32, &data);
        let outputs = context
            .compute(vec![("Input3".to_string(), input)])
            .map_err(|e| nn_error("compute", e))?;
        let (_, output) = outputs.into_iter().next().ok_or("the model gave no output")?;
        logits = output
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
    }
    logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(digit, _)| digit)
        .ok_or_else(|| "the model gave no scores".to_string())
}

fn nn_error(call: &str, e: Error) -> String {
    format!("wasi-nn {call}: {:?} ({})", e.code(), e.data())
}

/// A binary PGM (P5, 8-bit): width, height and one byte per pixel.
fn read_pgm(path: &str) -> Result<(u32, u32, Vec<u8>), String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_IMAGE)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    let bad = || format!("{path} is not an 8-bit binary PGM (P5)");
    // Four header fields separated by whitespace (and # comments), then one whitespace byte.
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b'#') {
            if bytes[pos] == b'#' {
                while pos < bytes.len() && bytes[pos] != b'\n' {
                    pos += 1;
                }
            } else {
                pos += 1;
            }
        }
        let start = pos;
        while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if start == pos {
            return Err(bad());
        }
        fields.push(std::str::from_utf8(&bytes[start..pos]).map_err(|_| bad())?);
    }
    let number = |s: &str| s.parse::<u32>().map_err(|_| bad());
    if fields[0] != "P5" || number(fields[3])? != 255 {
        return Err(bad());
    }
    let (width, height) = (number(fields[1])?, number(fields[2])?);
    let pixels = bytes.get(pos + 1..).ok_or_else(bad)?;
    if pixels.len() as u64 != u64::from(width) * u64::from(height) {
        return Err(format!("{path}: {width}x{height} pixels expected, {} found", pixels.len()));
    }
    Ok((width, height, pixels.to_vec()))
}
