//! End-to-end tests of wasi-nn in `qyv run`: examples/mnist-rust built, packed, signed and run
//! through the real binary, and the errors a user meets (an operator tract lacks, a name that
//! is no model, a wrong input shape, a tampered bundle, a timeout during inference). The
//! example is built once and every case runs against that build.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Sandbox, build_ok, root};
use prost::Message;
use tract_onnx::pb;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies `from` into `to` (build outputs left out).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if name == "target" {
            continue;
        }
        if e.path().is_dir() {
            copy_tree(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

fn tensor_type(name: &str, elem: pb::tensor_proto::DataType, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(Value::DimValue(*d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, domain: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        name: output.into(),
        op_type: op.into(),
        domain: domain.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn model(
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    output: pb::ValueInfoProto,
) -> Vec<u8> {
    use pb::tensor_proto::DataType;
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "g".into(),
            node: nodes,
            initializer: initializers,
            input: vec![tensor_type("Input3", DataType::Float, &[1, 1, 28, 28])],
            output: vec![output],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A model that takes MNIST's input and ends in ZipMap, an operator tract does not have.
fn zipmap_model() -> Vec<u8> {
    use pb::tensor_proto::DataType;
    model(
        vec![node("ZipMap", "ai.onnx.ml", &["Input3"], "ZipMap")],
        vec![],
        tensor_type("ZipMap", DataType::Float, &[1, 1, 28, 28]),
    )
}

/// A model that takes MNIST's input and multiplies a 784x784 matrix made of it by another,
/// `rounds` times over: long enough for a timeout to catch it in the middle.
fn slow_model(rounds: usize) -> Vec<u8> {
    use pb::tensor_proto::DataType;
    let shape = pb::TensorProto {
        name: "square".into(),
        dims: vec![2],
        data_type: DataType::Int64 as i32,
        int64_data: vec![784, 784],
        ..Default::default()
    };
    let mut nodes = vec![
        node("Flatten", "", &["Input3"], "flat"),
        node("Expand", "", &["flat", "square"], "m0"),
        node("Sigmoid", "", &["m0"], "w"),
    ];
    for i in 0..rounds {
        nodes.push(node(
            "MatMul",
            "",
            &[&format!("m{i}"), "w"],
            &format!("m{}", i + 1),
        ));
    }
    model(
        nodes,
        vec![shape],
        tensor_type(&format!("m{rounds}"), DataType::Float, &[784, 784]),
    )
}

/// examples/mnist-rust copied into a sandbox and built, with extra manifests beside its own.
struct Mnist {
    sandbox: Sandbox,
}

impl Mnist {
    fn new() -> Mnist {
        let sandbox = Sandbox::new();
        let dir = sandbox.path("mnist");
        copy_tree(&root().join("examples/mnist-rust"), &dir);
        build_ok(&dir);
        Mnist { sandbox }
    }

    fn dir(&self) -> PathBuf {
        self.sandbox.path("mnist")
    }

    /// A manifest `name.qyv` beside the example's, for the same component with `extra`.
    fn manifest(&self, name: &str, extra: &str) -> String {
        let text = format!(
            "name: {name}\nentrypoint: target/qyv/mnist-rust.wasm\npermissions:\n  fs: read-only\nfs:\n  type: memfs\nassets: [assets]\n{extra}"
        );
        std::fs::write(self.dir().join(format!("{name}.qyv")), text).unwrap();
        format!("mnist/{name}.qyv")
    }

    fn qyv(&self, args: &[&str]) -> Output {
        self.sandbox.qyv(args)
    }
}

#[test]
fn mnist_example_classifies_a_two_from_a_signed_bundle_and_errors_are_plain() {
    let m = Mnist::new();

    // From the project, then from a signed bundle: the digit.
    let o = m.qyv(&["run", "-q", "mnist"]);
    assert_eq!(stdout(&o), "2\n", "{}", stderr(&o));
    assert!(m.qyv(&["keygen", "ci"]).status.success());
    assert!(m.qyv(&["trust", "add", "ci.pub"]).status.success());
    let o = m.qyv(&["pack", "mnist", "--sign", "ci.key", "-o", "mnist.qyvbin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = m.qyv(&["run", "-q", "mnist.qyvbin"]);
    assert_eq!(stdout(&o), "2\n", "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
    // By its path under /models too.
    let o = m.qyv(&[
        "run",
        "-q",
        "mnist.qyvbin",
        "--",
        "/data/two.pgm",
        "mnist.onnx",
    ]);
    assert_eq!(stdout(&o), "2\n", "{}", stderr(&o));

    // A name that is no model: the guest gets not-found, stderr lists the names there are.
    let o = m.qyv(&["run", "-q", "mnist.qyvbin", "--", "/data/two.pgm", "mnits"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("NotFound"), "{err}");
    assert!(
        err.contains(r#"no model named "mnits"; the models are: mnist, mnist.onnx"#),
        "{err}"
    );

    // A 14x14 image: the guest's tensor has the wrong shape, stderr says which it needs.
    let mut small = b"P5\n14 14\n255\n".to_vec();
    small.extend([0u8; 14 * 14]);
    std::fs::write(m.dir().join("assets/small.pgm"), small).unwrap();
    let o = m.qyv(&["run", "-q", "mnist", "--", "/data/small.pgm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(r#"input "Input3" expects f32 [1,1,28,28], got f32 [1,1,14,14]"#),
        "{}",
        stderr(&o)
    );

    // An operator tract lacks: refused before the guest starts (it prints nothing).
    std::fs::write(m.dir().join("models/iris.onnx"), zipmap_model()).unwrap();
    let zip = m.manifest("zip", "models: [models/mnist.onnx, models/iris.onnx]\n");
    let o = m.qyv(&["run", "-q", &zip]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stdout(&o).is_empty(), "the guest ran: {}", stdout(&o));
    assert!(
        stderr(&o).contains(
            r#"model iris.onnx cannot run: ONNX operator(s) not supported by tract 0.23.9: ZipMap (node "ZipMap")"#
        ),
        "{}",
        stderr(&o)
    );

    // validate and pack warn about it; inspect lists a bundle's models and what they take.
    let o = m.qyv(&["validate", &zip]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: model iris.onnx cannot run"),
        "{}",
        stderr(&o)
    );
    let o = m.qyv(&["pack", &zip, "-o", "zip.qyvbin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: model iris.onnx cannot run"),
        "{}",
        stderr(&o)
    );
    let o = m.qyv(&["inspect", "zip.qyvbin"]);
    let shown = stdout(&o);
    for line in [
        "models (2, wasi-nn)",
        "  iris.onnx  CANNOT RUN: model iris.onnx cannot run: ONNX operator(s) not supported by tract 0.23.9: ZipMap",
        "  mnist.onnx  runs on tract 0.23.9",
        "    input   Input3 f32 [1,1,28,28]",
        "    output  Plus214_Output_0 f32 [1,10]",
    ] {
        assert!(shown.contains(line), "{line:?} not in:\n{shown}");
    }
    let o = m.qyv(&["inspect", "--json", "zip.qyvbin"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let models = &json["bundle"]["models"];
    assert_eq!(models[1]["path"], "mnist.onnx");
    assert_eq!(models[1]["runs_on_tract"], true);
    assert_eq!(
        models[1]["inputs"][0]["shape"],
        serde_json::json!(["1", "1", "28", "28"])
    );
    assert_eq!(models[0]["runs_on_tract"], false);

    // A model altered inside a signed bundle: the bundle is refused, nothing runs.
    let mut bundle = std::fs::read(m.sandbox.path("mnist.qyvbin")).unwrap();
    let middle = bundle.len() / 2;
    bundle[middle] ^= 0x20;
    std::fs::write(m.sandbox.path("bad.qyvbin"), &bundle).unwrap();
    let o = m.qyv(&["run", "-q", "bad.qyvbin"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());

    // A timeout in the middle of an inference (host code, which epochs cannot interrupt):
    // the run still ends, with 124.
    std::fs::write(m.dir().join("models/slow.onnx"), slow_model(400)).unwrap();
    let slow = m.manifest(
        "slow",
        "models: [models/slow.onnx]\nlimits:\n  timeout: 1s\n",
    );
    let started = std::time::Instant::now();
    let o = m.qyv(&["run", "-q", &slow, "--", "/data/two.pgm", "slow"]);
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// The files below `dir` by relative path (build outputs and the lock file left out).
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if e.file_name() != "target" {
                    stack.push(p);
                }
            } else if e.file_name() != "Cargo.lock" {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                files.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    files
}

#[test]
fn the_nn_template_writes_the_mnist_example() {
    let sandbox = Sandbox::new();
    let o = sandbox.qyv(&["new", "--lang", "rust", "--template", "nn", "mnist-rust"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let written = tree(&sandbox.path("mnist-rust"));
    let example = tree(&root().join("examples/mnist-rust"));
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        example.keys().collect::<Vec<_>>()
    );
    assert!(
        written == example,
        "examples/mnist-rust differs from what `qyv new --lang rust --template nn mnist-rust` writes"
    );
}

#[test]
fn a_python_guest_classifies_the_same_two() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("nn-python");
    copy_tree(&root().join("tests/fixtures/nn-python"), &dir);
    let example = root().join("examples/mnist-rust");
    copy_tree(&example.join("models"), &dir.join("models"));
    copy_tree(&example.join("assets"), &dir.join("assets"));
    build_ok(&dir);
    let o = sandbox.qyv(&["run", "-q", "nn-python"]);
    assert_eq!(stdout(&o), "2\n", "{}", stderr(&o));
    // Its errors are the Rust guest's: the host's words on stderr, the code in the guest.
    let o = sandbox.qyv(&["run", "-q", "nn-python", "--", "/data/two.pgm", "nine"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("ErrorCode.NOT_FOUND"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(r#"no model named "nine""#),
        "{}",
        stderr(&o)
    );
}

/// A core module that calls wasi-nn's preview 1 `load_by_name` with `name` and exits with
/// the errno it returns (0: found).
fn witx_loader(name: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            (import "wasi_ephemeral_nn" "load_by_name" (func $load (param i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 64) "{name}")
            (func (export "_start")
              (call $exit (call $load (i32.const 64) (i32.const {len}) (i32.const 0)))))"#,
        len = name.len()
    ))
    .unwrap()
}

#[test]
fn core_modules_get_the_preview1_form_of_wasi_nn() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("witx");
    copy_tree(
        &root().join("examples/mnist-rust/models"),
        &dir.join("models"),
    );
    for name in ["mnist", "nope"] {
        std::fs::write(dir.join(format!("{name}.wasm")), witx_loader(name)).unwrap();
        std::fs::write(
            dir.join(format!("{name}.qyv")),
            format!("name: witx-{name}\nentrypoint: {name}.wasm\nmodels: [models/mnist.onnx]\n"),
        )
        .unwrap();
    }
    let o = sandbox.qyv(&["run", "-q", "witx/mnist.qyv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = sandbox.qyv(&["run", "-q", "witx/nope.qyv"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains(r#"no model named "nope"; the models are: mnist, mnist.onnx"#),
        "{}",
        stderr(&o)
    );
}

/// examples/mnist-rust's two as the model's input: 784 f32 pixels, little endian (the PGM's
/// last 784 bytes are its pixels).
fn two_as_input() -> Vec<u8> {
    let pgm = std::fs::read(root().join("examples/mnist-rust/assets/two.pgm")).unwrap();
    pgm[pgm.len() - 28 * 28..]
        .iter()
        .flat_map(|p| f32::from(*p).to_le_bytes())
        .collect()
}

#[test]
fn an_http_app_classifies_with_its_models_and_the_log_says_what_failed() {
    use common::http::{Server, post};

    let sandbox = Sandbox::new();
    let dir = sandbox.path("digits");
    std::fs::create_dir_all(dir.join("models")).unwrap();
    let handler = common::rust_fixture("http_nn", "wasm32-wasip2");
    std::fs::copy(handler, dir.join("nn.wasm")).unwrap();
    let example = root().join("examples/mnist-rust/models/mnist.onnx");
    std::fs::copy(example, dir.join("models/mnist.onnx")).unwrap();
    std::fs::write(dir.join("models/slow.onnx"), slow_model(400)).unwrap();
    std::fs::write(dir.join("models/iris.onnx"), zipmap_model()).unwrap();
    let manifest = |name: &str, models: &str| {
        std::fs::write(
            dir.join(format!("{name}.qyv")),
            format!(
                "name: {name}\nentrypoint: nn.wasm\ntype: http\nmodels: [{models}]\nlimits:\n  timeout: 2s\n"
            ),
        )
        .unwrap();
        dir.join(format!("{name}.qyv"))
    };

    // An operator tract lacks: the server does not start.
    let zip = manifest("zip", "models/mnist.onnx, models/iris.onnx");
    let o = sandbox
        .command()
        .args(["run", "--listen", "127.0.0.1:0"])
        .arg(&zip)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(!err.contains("serving"), "{err}");
    assert!(
        err.contains(r#"model iris.onnx cannot run: ONNX operator(s) not supported by tract 0.23.9: ZipMap (node "ZipMap")"#),
        "{err}"
    );

    let digits = manifest("digits", "models/mnist.onnx, models/slow.onnx");
    let mut cmd = sandbox.command();
    cmd.args(["run", "--listen", "127.0.0.1:0"]).arg(&digits);
    let server = Server::start(cmd);
    let input = two_as_input();
    let answer = server.post("/classify", &input);
    assert_eq!(answer.status, 200, "{}", server.stderr());
    assert_eq!(answer.text(), "2\n");
    server.wait_for_line("POST /classify 200");

    // A name that is no model: the guest's 500 has the code, the log has the names there are.
    let answer = server.post("/classify?model=mnits", &input);
    assert_eq!(answer.status, 500);
    assert_eq!(answer.text(), "wasi-nn load-by-name: ErrorCode::NotFound\n");
    server.wait_for_line(
        r#"no model named "mnits"; the models are: mnist, mnist.onnx, slow, slow.onnx"#,
    );

    // Inferences past limits.timeout (2s): each gets its 504 on time, and while they run
    // (more of them than the server has threads, one per core) other requests are answered.
    let addr = server.addr;
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let input = input.clone();
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                (
                    post(addr, "/classify?model=slow", &input),
                    started.elapsed(),
                )
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    assert_eq!(server.get("/hello").text(), "hello\n");
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    for slow in slow {
        let (answer, took) = slow.join().unwrap();
        assert_eq!(answer.status, 504, "{}", server.stderr());
        assert!(took < std::time::Duration::from_secs(4), "{took:?}");
    }
    server.wait_for_line("POST /classify?model=slow 504");
    assert_eq!(server.post("/classify", &input).text(), "2\n");
}

#[test]
fn a_python_http_app_classifies_the_same_two() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("nn-http-python");
    copy_tree(&root().join("tests/fixtures/nn-http-python"), &dir);
    copy_tree(
        &root().join("examples/mnist-rust/models"),
        &dir.join("models"),
    );
    build_ok(&dir);
    let mut cmd = sandbox.command();
    cmd.args(["run", "--listen", "127.0.0.1:0"]).arg(&dir);
    let server = common::http::Server::start(cmd);
    let answer = server.post("/classify", &two_as_input());
    assert_eq!(answer.status, 200, "{}", server.stderr());
    assert_eq!(answer.text(), "2\n");
    let answer = server.post("/classify?model=nine", &two_as_input());
    assert_eq!(answer.text(), "wasi-nn: ErrorCode.NOT_FOUND\n");
    server.wait_for_line(r#"no model named "nine""#);
}
