//! Device choice: `cpu`, `cuda`, `cuda:N`, `metal` or `auto`, parsed from one flag.
//!
//! Parsing only checks the spelling; [`DeviceSpec::open`] checks that the
//! build has the backend (the `cuda` or `metal` cargo feature) and that the
//! device exists, and says how to fix it when not.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device, Result};

/// A device as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The host CPU.
    #[default]
    Cpu,
    /// The NVIDIA GPU with this ordinal (`cuda` is `cuda:0`).
    Cuda(usize),
    /// The Apple GPU (`metal`, `metal:N`).
    Metal(usize),
    /// CUDA if present, then Metal, then the CPU.
    Auto,
}

impl DeviceSpec {
    /// Opens the device, or explains why it cannot be had.
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(ordinal) => open_cuda(ordinal),
            DeviceSpec::Metal(ordinal) => open_metal(ordinal),
            DeviceSpec::Auto => {
                if cfg!(feature = "cuda") && candle_core::utils::cuda_is_available() {
                    open_cuda(0)
                } else if cfg!(feature = "metal") && candle_core::utils::metal_is_available() {
                    open_metal(0)
                } else {
                    Ok(Device::Cpu)
                }
            }
        }
    }

    /// Opens the device for work in `dtype`: as [`open`](Self::open), and refuses float64 on Metal, which has none.
    pub fn open_for(self, dtype: DType) -> Result<Device> {
        let dev = self.open()?;
        if dev.is_metal() && dtype == DType::F64 {
            fail!("Metal has no float64: pass --dtype f32")
        }
        Ok(dev)
    }
}

fn open_cuda(ordinal: usize) -> Result<Device> {
    if !cfg!(feature = "cuda") {
        fail!("device 'cuda:{ordinal}' is not compiled in: rebuild with `--features cuda`, or use `--device cpu`")
    }
    #[cfg(feature = "cuda")]
    {
        let count = candle_core::cuda::cudarc::driver::CudaContext::device_count().map_err(|e| {
            candle_core::Error::Msg(format!(
                "cannot count CUDA devices ({e}): check the NVIDIA driver with `nvidia-smi`, or use `--device cpu`"
            ))
        })?;
        let count = usize::try_from(count).unwrap_or(0);
        if ordinal >= count {
            match count {
                0 => fail!("device 'cuda:{ordinal}': this machine has no CUDA device: use `--device cpu`"),
                n => fail!(
                    "device 'cuda:{ordinal}' does not exist: this machine has {n} CUDA device(s), cuda:0 to cuda:{}",
                    n - 1
                ),
            }
        }
    }
    Device::new_cuda(ordinal).map_err(|e| {
        candle_core::Error::Msg(format!(
            "cannot open CUDA device {ordinal} ({}): check `nvidia-smi`, or use `--device cpu`",
            crate::error::message(&e)
        ))
    })
}

fn open_metal(ordinal: usize) -> Result<Device> {
    if !cfg!(feature = "metal") {
        fail!("device 'metal' is not compiled in: rebuild with `--features metal` on macOS, or use `--device cpu`")
    }
    Device::new_metal(ordinal).map_err(|e| {
        candle_core::Error::Msg(format!(
            "cannot open Metal device {ordinal} ({}): use `--device cpu`",
            crate::error::message(&e)
        ))
    })
}

/// The name of an opened device, as the spec would write it (`cpu`, `cuda:0`, `metal:0`).
pub fn name(dev: &Device) -> String {
    match dev.location() {
        candle_core::DeviceLocation::Cpu => "cpu".to_string(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let ordinal = |n: &str| {
            n.parse::<usize>().map_err(|_| {
                format!("bad device ordinal in '{s}': write e.g. 'cuda:0' or 'cuda:1'")
            })
        };
        match s {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            "metal" => Ok(DeviceSpec::Metal(0)),
            "auto" => Ok(DeviceSpec::Auto),
            _ => match s.split_once(':') {
                Some(("cuda", n)) => Ok(DeviceSpec::Cuda(ordinal(n)?)),
                Some(("metal", n)) => Ok(DeviceSpec::Metal(ordinal(n)?)),
                _ => Err(format!(
                    "unknown device '{s}': use cpu, cuda, cuda:N, metal or auto"
                )),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Metal(n) => write!(f, "metal:{n}"),
            DeviceSpec::Auto => write!(f, "auto"),
        }
    }
}
