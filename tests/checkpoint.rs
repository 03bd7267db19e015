//! Checkpoints round-trip in both formats and dtypes, and loading checks names and shapes.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{max_abs_diff_all, scratch, values};
use simple_nn::io::weights as checkpoint;
use simple_nn::tutorial::{Init, Mode, Trainer};

#[test]
fn checkpoints_round_trip_in_both_formats_and_dtypes() {
    let dir = scratch("round-trip");
    let sizes = [3, 5, 2];
    for dtype in [DType::F64, DType::F32] {
        let ws = Init::Uniform(9)
            .weights(&sizes, dtype, &Device::Cpu)
            .unwrap();
        for name in ["w.npz", "w.safetensors"] {
            let path = dir.join(format!("{}-{name}", dtype.as_str()));
            checkpoint::save(&path, &ws).unwrap();
            let loaded = checkpoint::load(&path, &sizes, dtype, &Device::Cpu).unwrap();
            assert_eq!(
                loaded.iter().map(|w| w.dtype()).collect::<Vec<_>>(),
                [dtype, dtype]
            );
            assert_eq!(loaded[0].dims(), [3, 5]);
            assert_eq!(
                max_abs_diff_all(&loaded, &ws).unwrap(),
                0.0,
                "{name} {dtype:?}"
            );
            // Loading into the other dtype converts.
            let other = if dtype == DType::F64 {
                DType::F32
            } else {
                DType::F64
            };
            let converted = checkpoint::load(&path, &sizes, other, &Device::Cpu).unwrap();
            assert!(max_abs_diff_all(&converted, &ws).unwrap() <= 1e-7);
        }
    }
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn npz_holds_the_tutorials_layout_in_float64() {
    let dir = scratch("npz-layout");
    let path = dir.join("w.npz");
    let ws = Init::Numpy(1)
        .weights(&[3, 4, 1], DType::F32, &Device::Cpu)
        .unwrap();
    checkpoint::save(&path, &ws).unwrap();
    let arrays = Tensor::read_npz(&path).unwrap();
    let names: Vec<_> = arrays
        .iter()
        .map(|(n, t)| (n.as_str(), t.dims().to_vec(), t.dtype()))
        .collect();
    assert_eq!(
        names,
        [
            ("w0", vec![3, 4], DType::F64),
            ("w1", vec![4, 1], DType::F64)
        ]
    );
}

#[test]
fn safetensors_uses_the_varmaps_names_and_layout() {
    let dir = scratch("varmap-names");
    let ws = Init::Uniform(2)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    let trainer = Trainer::stock(Mode::Autograd, &ws, 1.0).unwrap();
    // A file written by candle-nn's own VarMap::save loads as our checkpoint…
    let path = dir.join("varmap.safetensors");
    trainer.varmap().save(&path).unwrap();
    let loaded = checkpoint::load(&path, &[3, 4, 1], DType::F64, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff_all(&loaded, &ws).unwrap(), 0.0);
    // …and ours loads into a VarMap.
    let ours = dir.join("ours.safetensors");
    checkpoint::save(&ours, &ws).unwrap();
    let tensors = candle_core::safetensors::load(&ours, &Device::Cpu).unwrap();
    let mut names: Vec<_> = tensors.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["layers.0.weight", "layers.1.weight"]);
    assert_eq!(
        values(&tensors["layers.0.weight"]),
        values(&ws[0].t().unwrap())
    );
}

#[test]
fn loading_a_wrong_shape_or_missing_name_says_what_it_expected() {
    let dir = scratch("wrong");
    let ws = Init::Uniform(1)
        .weights(&[3, 8, 1], DType::F64, &Device::Cpu)
        .unwrap();
    for name in ["w.npz", "w.safetensors"] {
        let path = dir.join(name);
        checkpoint::save(&path, &ws).unwrap();
        let err = checkpoint::load(&path, &[3, 4, 1], DType::F64, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has shape (3, 8)") || err.contains("has shape (8, 3)"),
            "{err}"
        );
        assert!(
            err.contains("expected (3, 4)") || err.contains("expected (4, 3)"),
            "{err}"
        );
        let err = checkpoint::load(&path, &[3, 8, 1, 1], DType::F64, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has no tensor") && err.contains("for layer sizes [3, 8, 1, 1]"),
            "{err}"
        );
        let err = checkpoint::load(&path, &[3, 8], DType::F64, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unexpected tensor"), "{err}");
    }
    let err = checkpoint::load(
        &dir.join("missing.npz"),
        &[3, 4, 1],
        DType::F64,
        &Device::Cpu,
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot read checkpoint"), "{err}");
    let err = checkpoint::save(&dir.join("w.bin"), &ws).unwrap_err();
    assert!(err.to_string().contains("*.npz or *.safetensors"), "{err}");
}

#[test]
fn a_failed_save_leaves_the_previous_file_intact() {
    let dir = scratch("atomic");
    let path = dir.join("w.npz");
    let ws = Init::Uniform(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    checkpoint::save(&path, &ws).unwrap();
    let before = std::fs::read(&path).unwrap();
    // A save that fails after writing half its bytes.
    let result = simple_nn::io::atomic::write_with(&path, |tmp| {
        std::fs::write(tmp, &before[..before.len() / 2])?;
        Err(candle_core::Error::Msg("simulated failure mid-save".into()))
    });
    assert!(result.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "the temporary file was not removed"
    );
}

/// Many writers of one file in one process: each write is whole, and no temporary file is left.
#[test]
fn concurrent_saves_of_one_file_never_mix_and_leave_nothing_behind() {
    let dir = scratch("atomic-threads");
    let path = dir.join("out.txt");
    let contents: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; 64 * 1024]).collect();
    std::thread::scope(|scope| {
        for bytes in &contents {
            let path = &path;
            scope.spawn(move || {
                for _ in 0..20 {
                    simple_nn::io::atomic::write(path, bytes).unwrap();
                }
            });
        }
    });
    let written = std::fs::read(&path).unwrap();
    assert!(contents.contains(&written), "a mix of several writes");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["out.txt"], "temporary files were left");
}

/// A writer that panics half-way leaves the previous file and no temporary one.
#[test]
fn a_panic_during_a_save_leaves_the_previous_file_and_no_temporary_file() {
    let dir = scratch("atomic-panic");
    let path = dir.join("w.txt");
    std::fs::write(&path, b"before").unwrap();
    let result = std::panic::catch_unwind(|| {
        let _ = simple_nn::io::atomic::write_with(&path, |tmp| {
            std::fs::write(tmp, b"half").unwrap();
            panic!("simulated crash mid-save");
        });
    });
    assert!(result.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"before");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "the temporary file was left"
    );
}

/// Every writer (weights, model files, reports) gives its file the mode `File::create` gives.
#[cfg(unix)]
#[test]
fn saved_files_get_the_usual_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("atomic-mode");
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    std::fs::write(dir.join("plain.txt"), b"x").unwrap();
    let ws = Init::Uniform(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    checkpoint::save(&dir.join("w.npz"), &ws).unwrap();
    checkpoint::save(&dir.join("w.safetensors"), &ws).unwrap();
    simple_nn::io::atomic::write(&dir.join("report.csv"), b"a,b\n").unwrap();
    for name in ["w.npz", "w.safetensors", "report.csv"] {
        assert_eq!(mode(name), mode("plain.txt"), "{name}");
    }
}
