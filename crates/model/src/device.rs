//! Where tensors live: the CPU backend, or a GPU one when this build has its feature.

use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceKind {
    #[default]
    Cpu,
    Wgpu,
    Cuda,
}

impl FromStr for DeviceKind {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "cpu" => Ok(Self::Cpu),
            "wgpu" => Ok(Self::Wgpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(Error::Invalid(format!("unknown device `{other}` (cpu, wgpu or cuda)"))),
        }
    }
}

impl DeviceKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
        }
    }

    /// The device, or an error when this build lacks the backend's cargo feature.
    pub fn device(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(cpu()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(Default::default())),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            other => Err(Error::Invalid(format!(
                "this codi was built without the `{0}` feature (cargo build --features {0})",
                other.name()
            ))),
        }
    }
}

/// The CPU device tests and the default build use.
pub fn cpu() -> Device {
    Device::flex()
}
