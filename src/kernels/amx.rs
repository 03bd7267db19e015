//! Intel AMX's bf16 tile products (Sapphire Rapids and later): eight tile registers of up to
//! 16 rows × 64 bytes, and `tdpbf16ps`, which adds to a 16×16 f32 tile the product of a 16×32
//! bf16 tile and a 32×16 one — 16 384 FLOP an instruction.
//!
//! A block here is 32×32 of the output in four accumulator tiles (`tmm0`–`tmm3`), fed each step
//! of 32 along the sum by two tiles of the left operand (`tmm4`, `tmm5`) and two of the right
//! (`tmm6`, `tmm7`): four products for four loads. The operands come packed by
//! [`bf16`](super::bf16): every tile 1 KiB contiguous, the right operand's in the "VNNI" order
//! `tdpbf16ps` reads (row `p` of a tile holds the pairs of sum rows `2p`, `2p + 1` of its 16
//! columns).
//!
//! Linux hands out the tiles' 8 KiB of register state only to a process that asks for it
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`); [`available`] asks once and says no wherever the CPU,
//! the OS or that request does.

use std::arch::asm;
use std::marker::PhantomData;
use std::sync::OnceLock;

/// bf16 values per tile row (64 bytes), also the sum's step per tile product.
pub(crate) const DEPTH: usize = 32;
/// Rows of a tile, and its row's f32 sums or pairs of bf16 values.
pub(crate) const TILE: usize = 16;
/// Pairs of bf16 values (as `u32`, the first in the low half) in one packed tile.
pub(crate) const TILE_LEN: usize = TILE * TILE;

/// Whether this process may run AMX's bf16 tile products: the CPU has them (CPUID), the OS
/// saves the tile state (XCR0) and, on Linux, granted this process its use.
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(detect)
}

fn detect() -> bool {
    use std::arch::x86_64::{__cpuid_count, _xgetbv};
    // CPUID leaf 7: EDX bit 22 AMX-BF16, bit 24 AMX-TILE.
    #[allow(unused_unsafe)]
    let leaf7 = unsafe { __cpuid_count(7, 0) };
    let amx = leaf7.edx & (1 << 22) != 0 && leaf7.edx & (1 << 24) != 0;
    if !amx || !std::arch::is_x86_feature_detected!("xsave") {
        return false;
    }
    // SAFETY: XGETBV is present (checked just above, with the OS's XSAVE support).
    let xcr0 = unsafe { _xgetbv(0) };
    // XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA): the OS saves the tiles across switches.
    xcr0 & (0b11 << 17) == 0b11 << 17 && granted()
}

#[cfg(target_os = "linux")]
fn granted() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with this request only changes which register state the kernel lets
    // this process use; it reads and writes no memory of ours.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn granted() -> bool {
    false
}

/// The tiles' shapes, for `ldtilecfg`: palette 1, all eight 16 rows of 64 bytes.
#[repr(C, align(64))]
struct Config([u8; 64]);

impl Config {
    fn all_full() -> Self {
        let mut bytes = [0u8; 64];
        bytes[0] = 1;
        for t in 0..8 {
            bytes[16 + 2 * t..18 + 2 * t].copy_from_slice(&(DEPTH as u16 * 2).to_le_bytes());
            bytes[48 + t] = TILE as u8;
        }
        Self(bytes)
    }
}

/// The tile registers configured on this thread for the products of [`block`]; released (and
/// the thread's tile state with them) when dropped. The configuration is the thread's own, so
/// `Tiles` stays on the thread that made it.
pub(crate) struct Tiles(PhantomData<*const ()>);

impl Tiles {
    /// Configures this thread's tiles. Only where [`available`] said yes.
    pub(crate) fn configure() -> Option<Self> {
        if !available() {
            return None;
        }
        let config = Config::all_full();
        // SAFETY: AMX is usable by this process (`available`), and `config` is a valid 64-byte
        // palette-1 configuration.
        unsafe { asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly)) };
        Some(Self(PhantomData))
    }

    /// `out` (four 16×16 f32 tiles, row-major, in the order a0·b0, a0·b1, a1·b0, a1·b1) =
    /// the products of `depth` steps of packed tiles: `a0[s]`, `a1[s]` (16×32 bf16 each) with
    /// `b0[s]`, `b1[s]` (32×16 each, VNNI order), summed over the steps `s`; each tile 16 rows
    /// of 16 pairs of bf16.
    pub(crate) fn block(
        &mut self,
        [a0, a1]: [&[u32]; 2],
        [b0, b1]: [&[u32]; 2],
        out: &mut [f32; 4 * TILE * TILE],
    ) {
        let steps = a0.len() / TILE_LEN;
        assert!(
            [a1.len(), b0.len(), b1.len()]
                .iter()
                .all(|&l| l == a0.len()),
            "AMX block: operands of different depths"
        );
        let stride = 2 * DEPTH;
        // SAFETY: the tiles are configured on this thread (`self`); every load reads one 1 KiB
        // tile (16 rows of `stride` bytes) inside its slice, `steps` tiles of each; the stores
        // write four 1 KiB tiles into `out`, which holds exactly them.
        unsafe {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
            for s in 0..steps {
                let offset = s * TILE_LEN;
                asm!(
                    "tileloadd tmm4, [{a0} + {stride} * 1]",
                    "tileloadd tmm5, [{a1} + {stride} * 1]",
                    "tileloadd tmm6, [{b0} + {stride} * 1]",
                    "tileloadd tmm7, [{b1} + {stride} * 1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a0.as_ptr().add(offset),
                    a1 = in(reg) a1.as_ptr().add(offset),
                    b0 = in(reg) b0.as_ptr().add(offset),
                    b1 = in(reg) b1.as_ptr().add(offset),
                    stride = in(reg) stride,
                    options(nostack, readonly)
                );
            }
            let out = out.as_mut_ptr();
            let tile = TILE * TILE;
            asm!(
                "tilestored [{t0} + {stride} * 1], tmm0",
                "tilestored [{t1} + {stride} * 1], tmm1",
                "tilestored [{t2} + {stride} * 1], tmm2",
                "tilestored [{t3} + {stride} * 1], tmm3",
                t0 = in(reg) out,
                t1 = in(reg) out.add(tile),
                t2 = in(reg) out.add(2 * tile),
                t3 = in(reg) out.add(3 * tile),
                stride = in(reg) TILE * 4,
                options(nostack)
            );
        }
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: the tiles were configured on this thread; releasing returns them to their
        // initial state.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// Where the kernel lists AMX's bf16 and tile flags for this CPU, the process gets the tiles:
    /// the products then run on them (the bf16 tests cover both paths).
    #[test]
    fn amx_is_used_where_linux_lists_it() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flags = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .unwrap_or("");
        let listed = ["amx_bf16", "amx_tile"]
            .iter()
            .all(|f| flags.split_whitespace().any(|w| w == *f));
        assert_eq!(super::available(), listed, "flags: {flags}");
    }
}
