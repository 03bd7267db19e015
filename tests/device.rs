//! Device strings: good ones parse, bad and not-compiled-in ones say how to fix them.

use simple_nn::DeviceSpec;

#[test]
fn good_device_strings_parse() {
    assert_eq!("cpu".parse(), Ok(DeviceSpec::Cpu));
    assert_eq!("cuda".parse(), Ok(DeviceSpec::Cuda(0)));
    assert_eq!("cuda:3".parse(), Ok(DeviceSpec::Cuda(3)));
    assert_eq!("metal".parse(), Ok(DeviceSpec::Metal(0)));
    assert_eq!("auto".parse(), Ok(DeviceSpec::Auto));
    for spec in ["cpu", "cuda:0", "cuda:3", "metal:0", "auto"] {
        assert_eq!(spec.parse::<DeviceSpec>().unwrap().to_string(), spec);
    }
}

#[test]
fn bad_device_strings_name_the_choices() {
    for bad in [
        "gpu", "CPU", "", "cuda:", "cuda:x", "cuda:-1", "cuda:0:1", "tpu:0",
    ] {
        let err = bad.parse::<DeviceSpec>().unwrap_err();
        assert!(err.contains(&format!("'{bad}'")), "{bad}: {err}");
        // The accepted forms, not only the input echoed ("cuda:0:1" holds "cuda:0" itself).
        assert!(
            err.contains("write e.g. 'cuda:0' or 'cuda:1'")
                || err.contains("use cpu, cuda, cuda:N, metal or auto"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn cpu_and_auto_open() {
    assert!(DeviceSpec::Cpu.open().unwrap().is_cpu());
    let auto = DeviceSpec::Auto.open().unwrap();
    if !cfg!(feature = "cuda") && !cfg!(feature = "metal") {
        assert!(auto.is_cpu());
    }
}

#[test]
fn a_backend_not_compiled_in_names_the_cargo_feature() {
    if !cfg!(feature = "cuda") {
        let err = DeviceSpec::Cuda(0).open().unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
    if !cfg!(feature = "metal") {
        let err = DeviceSpec::Metal(0).open().unwrap_err().to_string();
        assert!(err.contains("--features metal"), "{err}");
    }
}

#[test]
fn a_missing_gpu_is_an_error_not_a_panic() {
    // With the feature compiled in, an ordinal far past any machine's GPUs.
    if cfg!(feature = "cuda") {
        let err = DeviceSpec::Cuda(999).open().unwrap_err().to_string();
        assert!(err.contains("cuda") || err.contains("CUDA"), "{err}");
    }
}
