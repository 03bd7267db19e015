//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod nn;
pub mod text;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor};
use simple_nn::tutorial::Dataset;

/// The largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    // On the CPU in f64, so that tensors on different devices (CPU↔GPU parity) compare too.
    let f64_on_cpu = |t: &Tensor| t.to_device(&Device::Cpu)?.to_dtype(DType::F64);
    (f64_on_cpu(a)? - f64_on_cpu(b)?)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f64>()
}

/// The largest [`max_abs_diff`] over two lists of tensors, pairwise.
pub fn max_abs_diff_all(a: &[Tensor], b: &[Tensor]) -> Result<f64> {
    assert_eq!(a.len(), b.len(), "different numbers of tensors");
    a.iter()
        .zip(b)
        .map(|(a, b)| max_abs_diff(a, b))
        .try_fold(0f64, |m, d| Ok(m.max(d?)))
}

/// SplitMix64 as Vigna published it (`splitmix64.c`): the state goes up by the golden-ratio
/// increment, the output is the state through two xor-shift-multiply rounds. Written here, not
/// taken from the crate, so that a test can check the crate's draws against it.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next output.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A double in [0, 1): the top 53 bits of the next output, times 2⁻⁵³.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` numbers uniform in [-1, 1) from `seed`: inputs and weights for tests, any fixed numbers.
pub fn uniform(n: usize, seed: u64) -> Vec<f64> {
    uniform_in(n, seed, 1.0)
}

/// `n` numbers uniform in [-scale, scale) from `seed`: [`uniform`]'s times `scale`.
pub fn uniform_in(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|_| (2.0 * rng.next_f64() - 1.0) * scale)
        .collect()
}

/// A CPU tensor of `shape` in `dtype`, its values [`uniform`] from `seed`.
pub fn random(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    random_in(shape, seed, 1.0, dtype)
}

/// A CPU tensor of `shape` in `dtype`, its values [`uniform_in`] `[-scale, scale)` from `seed`.
pub fn random_in(shape: &[usize], seed: u64, scale: f64, dtype: DType) -> Tensor {
    let values = uniform_in(shape.iter().product(), seed, scale);
    Tensor::from_vec(values, shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// The largest absolute difference between two lists of numbers of the same length.
pub fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// `max |a − b| / max |b|`: the difference relative to the largest expected value.
pub fn relative_diff(a: &Tensor, b: &Tensor) -> f64 {
    let scale = values(b).iter().fold(0f64, |m, v| m.max(v.abs()));
    max_abs_diff(a, b).unwrap() / scale.max(f64::MIN_POSITIVE)
}

/// `‖a − b‖ / ‖b‖` (Euclidean norms): the difference relative to the expected values' size,
/// which a rare large difference in one element moves little.
pub fn relative_l2(a: &[f64], b: &[f64]) -> f64 {
    let norm = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    let diff = a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
    diff.sqrt() / norm.max(f64::MIN_POSITIVE)
}

/// ReLU as PyTorch differentiates it, written `z·[z > 0]`: the same values as candle's `relu`, and
/// the gradient 0 at exactly `z = 0` (PyTorch's and the fused kernels'), where candle's passes 1.
pub fn relu_as_pytorch(z: &Tensor) -> Tensor {
    let positive = z.gt(0.0).unwrap().to_dtype(z.dtype()).unwrap();
    (z * positive).unwrap()
}

/// The gradients of `sum(out · probe)`, `probe` [`random`] from `seed` in `out`'s shape, dtype and
/// device: every output's gradient a different number, so that a gradient sent to the wrong
/// place shows.
pub fn probe_backward(out: &Tensor, seed: u64) -> GradStore {
    let probe = random(out.dims(), seed, DType::F64)
        .to_dtype(out.dtype())
        .unwrap()
        .to_device(out.device())
        .unwrap();
    (out * probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap()
}

/// Settles the thread count for the kernels and candle's stock ops before `main`, as the
/// examples do first thing in theirs: the test harness starts its threads in `main`, after which
/// setting the environment would no longer be sound.
#[ctor::ctor(unsafe)]
fn settle_threads() {
    // SAFETY: this runs before `main`, while the process has one thread.
    unsafe { simple_nn::kernels::threads::init(None) };
}

/// The tutorial's data in float64 on the CPU.
pub fn article() -> (Tensor, Tensor) {
    Dataset::Article.tensors(DType::F64, &Device::Cpu).unwrap()
}

/// Values of a tensor (on any device) as a flat `Vec<f64>`.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_device(&Device::Cpu)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Every device this build and machine offer: the CPU always, CUDA and Metal when compiled in and present.
///
/// Prints which GPU backends were skipped and why, so a test log says what it
/// did not cover. With `SIMPLE_NN_REQUIRE_GPU=1` (the GPU check sets it) a
/// missing GPU is a failure instead, so a machine whose CUDA cannot be opened
/// never reports green.
pub fn devices() -> Vec<Device> {
    devices_requiring(std::env::var("SIMPLE_NN_REQUIRE_GPU").is_ok_and(|v| v == "1"))
}

/// [`devices`], failing when `require_gpu` and no GPU could be opened.
pub fn devices_requiring(require_gpu: bool) -> Vec<Device> {
    let mut devices = vec![Device::Cpu];
    let mut skipped = Vec::new();
    if cfg!(feature = "cuda") && candle_core::utils::cuda_is_available() {
        match Device::new_cuda(0) {
            Ok(dev) => devices.push(dev),
            Err(e) => skipped.push(format!("cuda: {e}")),
        }
    } else if cfg!(feature = "cuda") {
        skipped.push("cuda: no CUDA device on this machine".to_string());
    } else {
        skipped.push("cuda: not compiled in (build with --features cuda)".to_string());
    }
    if cfg!(feature = "metal") && candle_core::utils::metal_is_available() {
        match Device::new_metal(0) {
            Ok(dev) => devices.push(dev),
            Err(e) => skipped.push(format!("metal: {e}")),
        }
    } else {
        skipped.push("metal: not compiled in or no Metal device".to_string());
    }
    if require_gpu && devices.len() == 1 {
        panic!(
            "SIMPLE_NN_REQUIRE_GPU=1 but no GPU could be opened: {}",
            skipped.join("; ")
        );
    }
    for reason in skipped {
        eprintln!("skipped {reason}");
    }
    devices
}

/// The GPU of [`devices`], if any: the other side of a CPU↔GPU parity test.
pub fn gpu() -> Option<Device> {
    devices().into_iter().find(|d| !d.is_cpu())
}

/// The dtypes a device computes in: Metal has no float64.
pub fn float_dtypes(dev: &Device) -> Vec<DType> {
    if dev.is_metal() {
        vec![DType::F32]
    } else {
        vec![DType::F64, DType::F32]
    }
}

/// The path of an example binary; `cargo test` builds the examples next to the test binaries.
pub fn example(name: &str) -> std::path::PathBuf {
    let deps = std::env::current_exe().unwrap();
    let profile_dir = deps.parent().and_then(std::path::Path::parent).unwrap();
    let exe = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        exe.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        exe.display()
    );
    exe
}

/// The scratch folders this test process made, removed when it exits.
static SCRATCH: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

extern "C" fn remove_scratch() {
    let dirs = SCRATCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for dir in dirs.iter() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A fresh, empty folder for one test's files, removed with everything in it when the test
/// process exits (whether its tests passed or failed).
pub fn scratch(test: &str) -> std::path::PathBuf {
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: `remove_scratch` is a plain function that stays valid for the whole process.
    AT_EXIT.call_once(|| unsafe {
        libc::atexit(remove_scratch);
    });
    let dir = std::env::temp_dir().join(format!("simple-nn-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    SCRATCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(dir.clone());
    dir
}

/// An IDX images file: magic 0x00000803, count, rows, cols, then the pixels.
pub fn images_file(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for n in [count, rows, cols] {
        bytes.extend_from_slice(&n.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    bytes
}

/// An IDX labels file: magic 0x00000801, count, then the labels.
pub fn labels_file(labels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

/// `n` images of `side`×`side` whose label (0 to 3, in turn) says which quadrant holds a bright
/// square, over faint noise from `seed`: the pixels (row-major, one image after another) and the labels.
pub fn quadrant_images(n: usize, side: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = simple_nn::rng::SplitMix64::new(seed);
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let label = (i % 4) as u8;
        let (top, left) = (
            usize::from(label / 2) * side / 2,
            usize::from(label % 2) * side / 2,
        );
        for r in 0..side {
            for c in 0..side {
                let inside =
                    (top..top + side / 2).contains(&r) && (left..left + side / 2).contains(&c);
                let noise = (rng.next_f64() * 40.0) as u8;
                pixels.push(if inside { 200 + noise } else { noise });
            }
        }
        labels.push(label);
    }
    (pixels, labels)
}

/// A small MNIST-like set of [`quadrant_images`] in `dir`, as the four IDX files; returns the test
/// images' pixels and labels.
pub fn write_quadrants(
    dir: &std::path::Path,
    train: usize,
    test: usize,
    side: usize,
) -> (Vec<u8>, Vec<u8>) {
    let (train_set, test_set) = (
        quadrant_images(train, side, 3),
        quadrant_images(test, side, 4),
    );
    let s = side as u32;
    for (prefix, (pixels, labels)) in [("train", &train_set), ("t10k", &test_set)] {
        let n = labels.len() as u32;
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            images_file(n, s, s, pixels),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            labels_file(labels),
        )
        .unwrap();
    }
    test_set
}
