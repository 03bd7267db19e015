//! Property-based fuzzing of every loader: arbitrary bytes and mutated valid files never panic.
//!
//! Each loader gets random byte strings and valid files with bytes flipped,
//! cut off or inserted; every outcome must be `Ok` or a one-line error. CI
//! runs 200 cases per loader; `FUZZ_CASES=20000 cargo test --release --test
//! fuzz_loaders` runs longer. Inputs that once crashed a loader are kept as
//! regression cases at the bottom.

mod common;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use proptest::prelude::*;
use simple_nn::data::{csv, idx};
use simple_nn::data::{Part, TableOptions, TargetKind};
use simple_nn::io::weights as checkpoint;
use simple_nn::tutorial::Init;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn scratch(name: &str) -> PathBuf {
    common::scratch(&format!("fuzz-{name}"))
}

/// A valid file's bytes with random edits: flips, a cut, an insertion.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        proptest::collection::vec((0..len.max(1), any::<u8>()), 0..8),
        prop::option::of(0..=len),
        prop::option::of((0..=len, proptest::collection::vec(any::<u8>(), 1..16))),
    )
        .prop_map(move |(flips, cut, insert)| {
            let mut bytes = valid.clone();
            for (i, b) in flips {
                if i < bytes.len() {
                    bytes[i] ^= b;
                }
            }
            if let Some((at, extra)) = insert {
                let at = at.min(bytes.len());
                bytes.splice(at..at, extra);
            }
            if let Some(cut) = cut {
                bytes.truncate(cut);
            }
            bytes
        })
}

fn inputs(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        mutated(valid)
    ]
}

/// Runs `load` on `bytes` written to `path`; an error must be one line.
fn check<T>(
    path: &Path,
    bytes: &[u8],
    load: impl Fn(&Path) -> candle_core::Result<T>,
) -> Result<(), TestCaseError> {
    std::fs::write(path, bytes).unwrap();
    if let Err(e) = load(path) {
        let message = simple_nn::error::message(&e);
        prop_assert!(!message.contains('\n'), "multi-line error: {message}");
    }
    Ok(())
}

fn valid_csv() -> Vec<u8> {
    b"a,label,b,c\n0.5,1,2,red\n-1,0,3e2,\"blue, dark\"\n4,2,5,red\n".to_vec()
}

fn valid_idx_images() -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
    bytes.extend([0, 64, 128, 255, 1, 2, 3, 4]);
    bytes
}

fn valid_checkpoint(name: &str) -> Vec<u8> {
    let path = scratch("seed").join(name);
    let ws = Init::Uniform(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    checkpoint::save(&path, &ws).unwrap();
    std::fs::read(path).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn csv_loader_never_panics(bytes in inputs(valid_csv())) {
        let path = scratch("csv").join("data.csv");
        let (plain, dropping) = (TableOptions::default(), TableOptions { drop_incomplete: true, ..TableOptions::default() });
        check(&path, &bytes, |p| csv::read(p, TargetKind::Classes, &plain))?;
        check(&path, &bytes, |p| csv::read(p, TargetKind::Values, &dropping))?;
        // Through the schema of a model trained on the valid file, with and without the target.
        let schema = {
            let valid = scratch("csv-schema").join("valid.csv");
            std::fs::write(&valid, valid_csv()).unwrap();
            csv::read(&valid, TargetKind::Classes, &plain).unwrap().schema
        };
        for need_target in [true, false] {
            check(&path, &bytes, |p| csv::read_with(p, &schema, TargetKind::Classes, &plain, need_target))?;
        }
    }

    #[test]
    fn idx_loaders_never_panic(bytes in inputs(valid_idx_images())) {
        let path = scratch("idx").join("train-images-idx3-ubyte");
        check(&path, &bytes, idx::read_images)?;
        check(&path, &bytes, idx::read_labels)?;
        check(&path, &bytes, |p| idx::mnist(p.parent().unwrap(), Part::Train))?;
    }

    #[test]
    fn npz_loader_never_panics(bytes in inputs(valid_checkpoint("w.npz"))) {
        let path = scratch("npz").join("w.npz");
        check(&path, &bytes, |p| checkpoint::load(p, &[3, 4, 1], DType::F64, &Device::Cpu))?;
        check(&path, &bytes, checkpoint::sizes)?;
    }

    #[test]
    fn safetensors_loaders_never_panic(bytes in inputs(valid_checkpoint("w.safetensors"))) {
        let path = scratch("st").join("w.safetensors");
        check(&path, &bytes, |p| checkpoint::load(p, &[3, 4, 1], DType::F32, &Device::Cpu))?;
        check(&path, &bytes, checkpoint::sizes)?;
        check(&path, &bytes, |p| simple_nn::io::load_model(p, DType::F32, &Device::Cpu))?;
    }
}

/// An `.npz` (stored, as `np.savez` writes it) whose `w0` header declares `shape` over 96 bytes of data.
fn npz_declaring(shape: &str) -> Vec<u8> {
    use std::io::Write;
    let npy = |shape: &str| {
        let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.bytes());
        bytes.extend([0u8; 96]);
        bytes
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, shape) in [("w0.npy", shape), ("w1.npy", "(4, 1)")] {
        zip.start_file(name, stored).unwrap();
        zip.write_all(&npy(shape)).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Regression: headers declaring arrays far larger than the file made candle
/// allocate first ("memory allocation of 800000000000000 bytes failed", an
/// abort) or overflow ("capacity overflow", a panic). Now a one-line error.
#[test]
fn npz_headers_declaring_huge_arrays_are_refused_before_allocating() {
    let path = scratch("huge").join("w.npz");
    for shape in [
        "(3, 100000000000000)",
        "(3, 4611686018427387904)",
        "(4611686018427387904, 4)",
    ] {
        std::fs::write(&path, npz_declaring(shape)).unwrap();
        let err = checkpoint::load(&path, &[3, 4, 1], DType::F64, &Device::Cpu).unwrap_err();
        let message = simple_nn::error::message(&err);
        assert!(
            message.contains("w0.npy") && !message.contains('\n'),
            "{shape}: {message}"
        );
    }
}
