//! Matrix products on bf16 inputs with f32 sums: what PyTorch's CPU autocast runs a linear
//! layer's products in, and what a GPT's `--dtype bf16` runs its projections' and attention's
//! products in here.
//!
//! The operands stay f32 in memory (the weights are the optimizer's f32 master copy); each
//! product rounds them to bf16 (8 bits of mantissa, ties to even) as it packs them, multiplies
//! the roundings exactly and sums in f32. Where the CPU has AMX ([`amx`](super::amx)) the
//! packed tiles go through `tdpbf16ps`; elsewhere the roundings, widened back to f32, go
//! through the f32 gemm — the same products, summed in another order.

use candle_core::Result;

use super::matmul::{gemm_serial, View};

/// `x` rounded to the nearest bf16, ties to even, as its bits; a NaN stays a NaN.
#[inline(always)]
pub(crate) fn to_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16;
    if x.is_nan() {
        ((bits >> 16) | 0x40) as u16
    } else {
        rounded as u16
    }
}

/// `x` rounded to the nearest bf16 (ties to even) and widened back to f32: the value a bf16
/// product reads in place of `x`.
#[inline(always)]
pub(crate) fn round(x: f32) -> f32 {
    f32::from_bits(u32::from(to_bits(x)) << 16)
}

/// The right operand `b` of products `a·b` on bf16 roundings, rounded and packed once for all
/// the blocks of rows that multiply it: `b`'s columns in AMX tiles where the CPU has AMX, else
/// `b`'s roundings as f32 for gemm.
pub(crate) struct Right {
    rows: usize,
    cols: usize,
    form: Form,
}

enum Form {
    #[cfg(target_arch = "x86_64")]
    Tiles(Strips),
    Rounded(Vec<f32>),
}

impl Right {
    /// `b`, rounded and packed (over the kernels' threads).
    pub(crate) fn new(b: View<f32>) -> Self {
        Self::with(b, true, super::threads::current())
    }

    /// `b`, rounded and packed on this thread: for products inside a task of a split already.
    pub(crate) fn serial(b: View<f32>) -> Self {
        Self::with(b, true, 1)
    }

    /// `b` packed on `threads` threads; for AMX only where `amx` says so and the CPU has it.
    fn with(b: View<f32>, amx: bool, threads: usize) -> Self {
        let (rows, cols) = (b.rows, b.cols);
        #[cfg(target_arch = "x86_64")]
        if amx && super::amx::available() {
            let form = Form::Tiles(Strips::pack_on(b.t(), true, threads));
            return Self { rows, cols, form };
        }
        let _ = threads;
        let form = Form::Rounded(rounded(b));
        Self { rows, cols, form }
    }

    /// `dst (a.rows × b.cols, row-major) = [dst +] a·b` on the bf16 roundings of `a` and `b`,
    /// summed in f32, on this thread.
    pub(crate) fn product(&self, dst: &mut [f32], a: View<f32>, accumulate: bool) -> Result<()> {
        let (m, k, n) = (a.rows, a.cols, self.cols);
        if k != self.rows || m.checked_mul(n) != Some(dst.len()) || !a.fits() {
            candle_core::bail!(
                "bf16 gemm: operands do not fit ({m}×{k} by {}×{n} into {})",
                self.rows,
                dst.len()
            )
        }
        match &self.form {
            #[cfg(target_arch = "x86_64")]
            Form::Tiles(columns) => {
                let Some(tiles) = super::amx::Tiles::configure() else {
                    candle_core::bail!("bf16 gemm: AMX tiles packed, and AMX unavailable")
                };
                on_tiles(
                    tiles,
                    dst,
                    &Strips::pack(a, false),
                    columns,
                    (m, n),
                    accumulate,
                );
                Ok(())
            }
            Form::Rounded(b) => {
                let a_rounded = rounded(a);
                let (a, b) = (View::new(&a_rounded, m, k), View::new(b, k, n));
                gemm_serial(dst, a, b, accumulate)
            }
        }
    }
}

/// A view's values rounded to bf16 (and back to f32), row-major.
fn rounded(v: View<f32>) -> Vec<f32> {
    let mut values = Vec::with_capacity(v.rows * v.cols);
    for r in 0..v.rows {
        values.extend((0..v.cols).map(|c| round(v.data[r * v.rs + c * v.cs])));
    }
    values
}

/// `dst (m × n) = [dst +] a·b` on AMX, `a`'s rows and `b`'s columns packed in strips: each
/// 32×32 block of `dst` summed in the tile registers over the whole depth, then written out.
#[cfg(target_arch = "x86_64")]
fn on_tiles(
    mut tiles: super::amx::Tiles,
    dst: &mut [f32],
    rows: &Strips,
    cols: &Strips,
    (m, n): (usize, usize),
    accumulate: bool,
) {
    use super::amx::TILE;
    let mut out = [0f32; 4 * TILE * TILE];
    for i in (0..rows.count).step_by(2) {
        for j in (0..cols.count).step_by(2) {
            let a = [rows.strip(i), rows.strip(i + 1)];
            tiles.block(a, [cols.strip(j), cols.strip(j + 1)], &mut out);
            for (t, tile) in out.chunks_exact(TILE * TILE).enumerate() {
                let (row0, col0) = ((i + t / 2) * TILE, (j + t % 2) * TILE);
                if row0 >= m || col0 >= n {
                    continue;
                }
                let width = TILE.min(n - col0);
                for (r, sums) in tile.chunks_exact(TILE).take(m - row0).enumerate() {
                    let at = (row0 + r) * n + col0;
                    let dst = &mut dst[at..at + width];
                    // Element by element, so that a full row of the tile is one vector.
                    for (d, &s) in dst.iter_mut().zip(sums) {
                        *d = if accumulate { *d + s } else { s };
                    }
                }
            }
        }
    }
}

/// A matrix's rows in strips of 16, rounded to bf16 and cut into tiles of 16 rows × 32 columns,
/// each tile 1 KiB contiguous, a strip's tiles one after another; zeros past the matrix's edge,
/// and an even number of strips (the tile blocks take them in pairs). A tile is 16 rows of 16
/// `u32`s, each a pair of bf16 values, the first in the low half.
#[cfg(target_arch = "x86_64")]
struct Strips {
    tiles: Vec<u32>,
    count: usize,
    steps: usize,
}

/// At most this many buffers of tiles wait in [`SPARE`].
#[cfg(target_arch = "x86_64")]
const SPARES: usize = 8;

/// Buffers of tiles that packed operands gave back when dropped, for the next ones: a training
/// step packs the same sizes over and over, and fresh memory costs a page fault per page (the
/// kernel zeroing each) — more than the packing itself.
#[cfg(target_arch = "x86_64")]
static SPARE: std::sync::Mutex<Vec<Vec<u32>>> = std::sync::Mutex::new(Vec::new());

/// A buffer of `len` values, spare if one waits; its values are whatever they were (packing
/// writes every one).
#[cfg(target_arch = "x86_64")]
fn spare(len: usize) -> Vec<u32> {
    let taken = SPARE.lock().map(|mut spare| spare.pop()).unwrap_or(None);
    let mut tiles = taken.unwrap_or_default();
    if tiles.len() > len {
        tiles.truncate(len);
    } else {
        tiles.resize(len, 0);
    }
    tiles
}

#[cfg(target_arch = "x86_64")]
impl Drop for Strips {
    fn drop(&mut self) {
        if let Ok(mut spare) = SPARE.lock() {
            if spare.len() < SPARES {
                spare.push(std::mem::take(&mut self.tiles));
            }
        }
    }
}

/// Two values rounded to bf16, side by side in one `u32` as the tiles hold them.
#[inline(always)]
fn pair(first: f32, second: f32) -> u32 {
    u32::from(to_bits(first)) | u32::from(to_bits(second)) << 16
}

#[cfg(target_arch = "x86_64")]
impl Strips {
    /// `v`'s rows in strips; with `vnni`, each tile in the order `tdpbf16ps` reads its right
    /// operand (row `p` of a tile holds columns `2p` and `2p + 1` of each of its 16 rows, in
    /// pairs) — for a right operand `b`, pack `bᵀ`'s rows (`b`'s columns).
    ///
    /// Each tile is made as 16 × 16 pairs: along `v`'s rows where they are contiguous (pairs of
    /// neighbours in a row), down pairs of columns where they are not (a transposed view).
    /// Where that order is not the tile's, the 16 × 16 pairs are transposed on the way in.
    fn pack(v: View<f32>, vnni: bool) -> Self {
        Self::pack_on(v, vnni, 1)
    }

    /// [`pack`](Self::pack), its strips split over `threads` of the kernels' threads.
    fn pack_on(v: View<f32>, vnni: bool, threads: usize) -> Self {
        use super::amx::{DEPTH, TILE, TILE_LEN};
        let count = v.rows.div_ceil(2 * TILE) * 2;
        let steps = v.cols.div_ceil(DEPTH);
        let mut tiles = spare(count * steps * TILE_LEN);
        let strips = count.div_ceil(threads.max(1)).max(1);
        let _ =
            super::threads::for_each_chunk_mut(&mut tiles, strips * steps * TILE_LEN, |i, part| {
                fill(part, i * strips, v, vnni, steps);
                Ok::<(), ()>(())
            });
        Self {
            tiles,
            count,
            steps,
        }
    }

    /// Strip `i`'s tiles, one per step of the depth.
    fn strip(&self, i: usize) -> &[u32] {
        let len = self.steps * super::amx::TILE_LEN;
        &self.tiles[i * len..(i + 1) * len]
    }
}

/// Strips `first..` of `v` into `tiles` ([`Strips::pack`]), `steps` tiles a strip.
///
/// Along the strips' rows where `v`'s rows are contiguous; where its columns are, across the
/// strips first, so that each column is read in order (one strip's 16 values of a column are one
/// cache line, the next strip's the next line) rather than a line every few kilobytes.
#[cfg(target_arch = "x86_64")]
fn fill(tiles: &mut [u32], first: usize, v: View<f32>, vnni: bool, steps: usize) {
    use std::arch::is_x86_feature_detected as has;
    if has!("avx512bf16") && has!("avx512bw") {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { fill_by_instructions(tiles, first, v, vnni, steps) };
    }
    super::math::vectorized(
        #[inline(always)]
        || fill_in::<false>(tiles, first, v, vnni, steps),
    );
}

/// [`fill`] with AVX512-BF16's conversions: 32 values rounded by one instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16,avx2,avx")]
unsafe fn fill_by_instructions(
    tiles: &mut [u32],
    first: usize,
    v: View<f32>,
    vnni: bool,
    steps: usize,
) {
    fill_in::<true>(tiles, first, v, vnni, steps)
}

/// [`fill`]'s work; `BY_INSTRUCTIONS` only inside [`fill_by_instructions`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fill_in<const BY_INSTRUCTIONS: bool>(
    tiles: &mut [u32],
    first: usize,
    v: View<f32>,
    vnni: bool,
    steps: usize,
) {
    use super::amx::{DEPTH, TILE, TILE_LEN};
    let strips = tiles.len() / (steps * TILE_LEN).max(1);
    let order: Vec<(usize, usize)> = match v.cs == 1 {
        true => (0..strips)
            .flat_map(|s| (0..steps).map(move |t| (s, t)))
            .collect(),
        false => (0..steps)
            .flat_map(|t| (0..strips).map(move |s| (s, t)))
            .collect(),
    };
    let mut pairs = [[0u32; TILE]; TILE];
    for &(s, t) in &order {
        let tile = &mut tiles[(s * steps + t) * TILE_LEN..][..TILE_LEN];
        let (r0, c0) = ((first + s) * TILE, t * DEPTH);
        let rows = TILE.min(v.rows.saturating_sub(r0));
        let cols = DEPTH.min(v.cols - c0);
        let at = |r: usize, c: usize| (r0 + r) * v.rs + (c0 + c) * v.cs;
        let by_rows = v.cs == 1;
        if rows == 0 {
            // The strip that pads the count to even.
            tile.fill(0);
            continue;
        }
        if rows < TILE || cols < DEPTH {
            pairs = [[0; TILE]; TILE];
        }
        if by_rows {
            // pairs[r][q]: row r's columns 2q, 2q + 1.
            for (r, out) in pairs.iter_mut().enumerate().take(rows) {
                *out = row_pairs::<BY_INSTRUCTIONS>(&v.data[at(r, 0)..at(r, 0) + cols]);
            }
        } else {
            // pairs[q][r]: columns 2q, 2q + 1 of row r.
            for (q, out) in pairs.iter_mut().enumerate().take(cols.div_ceil(2)) {
                let first = column(v, at(0, 2 * q), rows);
                let second = match 2 * q + 1 < cols {
                    true => column(v, at(0, 2 * q + 1), rows),
                    false => [0.0; TILE],
                };
                *out = column_pairs::<BY_INSTRUCTIONS>(&first, &second);
            }
        }
        // The plain tile is [row][pair], the VNNI one [pair][row].
        if by_rows != vnni {
            for (t, p) in tile.iter_mut().zip(pairs.as_flattened()) {
                *t = *p;
            }
        } else {
            transpose::<BY_INSTRUCTIONS>(&pairs, tile);
        }
    }
}

/// `tile[a·16 + b] = pairs[b][a]`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn transpose<const BY_INSTRUCTIONS: bool>(pairs: &[[u32; 16]; 16], tile: &mut [u32]) {
    use std::arch::x86_64::{
        __m512i, _mm512_loadu_si512, _mm512_shuffle_i32x4 as lanes, _mm512_storeu_si512,
        _mm512_unpackhi_epi32, _mm512_unpackhi_epi64, _mm512_unpacklo_epi32, _mm512_unpacklo_epi64,
    };
    assert_eq!(tile.len(), 256, "a tile is 16 × 16 pairs");
    if !BY_INSTRUCTIONS {
        for (a, out) in tile.chunks_exact_mut(16).enumerate() {
            for (b, t) in out.iter_mut().enumerate() {
                *t = pairs[b][a];
            }
        }
        return;
    }
    // SAFETY: only inside `fill_by_instructions`, on a CPU with AVX-512; the loads read the 16
    // rows of `pairs`, the stores write the 256 values of `tile` (checked above).
    unsafe {
        // Rows of 16 as vectors of four 128-bit lanes. Interleaving 32-bit and then 64-bit
        // values of rows 4g..4g+3 leaves in u[4g + c]'s lane k column 4k + c of those rows;
        // two rounds of lane shuffles (0x88 takes lanes 0 and 2 of each operand, 0xdd 1 and 3)
        // gather each column's four lanes.
        let mut u = [_mm512_loadu_si512(pairs[0].as_ptr().cast()); 16];
        for g in 0..4 {
            let row = |i: usize| _mm512_loadu_si512(pairs[4 * g + i].as_ptr().cast::<__m512i>());
            let (lo01, hi01) = (
                _mm512_unpacklo_epi32(row(0), row(1)),
                _mm512_unpackhi_epi32(row(0), row(1)),
            );
            let (lo23, hi23) = (
                _mm512_unpacklo_epi32(row(2), row(3)),
                _mm512_unpackhi_epi32(row(2), row(3)),
            );
            u[4 * g] = _mm512_unpacklo_epi64(lo01, lo23);
            u[4 * g + 1] = _mm512_unpackhi_epi64(lo01, lo23);
            u[4 * g + 2] = _mm512_unpacklo_epi64(hi01, hi23);
            u[4 * g + 3] = _mm512_unpackhi_epi64(hi01, hi23);
        }
        let out = tile.as_mut_ptr();
        for c in 0..4 {
            let (v, w) = (lanes::<0x88>(u[c], u[4 + c]), lanes::<0xdd>(u[c], u[4 + c]));
            let (v2, w2) = (
                lanes::<0x88>(u[8 + c], u[12 + c]),
                lanes::<0xdd>(u[8 + c], u[12 + c]),
            );
            let columns = [
                (c, lanes::<0x88>(v, v2)),
                (4 + c, lanes::<0x88>(w, w2)),
                (8 + c, lanes::<0xdd>(v, v2)),
                (12 + c, lanes::<0xdd>(w, w2)),
            ];
            for (j, column) in columns {
                _mm512_storeu_si512(out.add(16 * j).cast(), column);
            }
        }
    }
}

/// Up to 32 neighbours of a row rounded to bf16, as the 16 pairs they make in memory (zeros
/// past the end).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn row_pairs<const BY_INSTRUCTIONS: bool>(src: &[f32]) -> [u32; 16] {
    use std::arch::x86_64::{__m512bh, _mm512_cvtne2ps_pbh, _mm512_loadu_ps};
    if let (true, Ok(src)) = (BY_INSTRUCTIONS, <&[f32; 32]>::try_from(src)) {
        // SAFETY: only inside `fill_by_instructions`, on a CPU with AVX512-BF16; the loads
        // read the 32 values of `src`. VCVTNE2PS2BF16 rounds to nearest, ties to even, as
        // `to_bits` (it reads subnormals as zero, as the tiles' products do anyway); the
        // second operand fills the low half.
        return unsafe {
            let (lo, hi) = (
                _mm512_loadu_ps(src.as_ptr()),
                _mm512_loadu_ps(src[16..].as_ptr()),
            );
            std::mem::transmute::<__m512bh, [u32; 16]>(_mm512_cvtne2ps_pbh(hi, lo))
        };
    }
    let mut bits = [0u16; 32];
    for (b, &x) in bits.iter_mut().zip(src) {
        *b = to_bits(x);
    }
    bytemuck::cast(bits)
}

/// `first[r]` and `second[r]` rounded to bf16, paired.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn column_pairs<const BY_INSTRUCTIONS: bool>(first: &[f32; 16], second: &[f32; 16]) -> [u32; 16] {
    use std::arch::x86_64::{
        __m512bh, __m512i, _mm512_cvtne2ps_pbh, _mm512_loadu_epi16, _mm512_loadu_ps,
        _mm512_permutexvar_epi16,
    };
    /// Lane `2r` from the first half (`first`'s roundings), lane `2r + 1` from the second.
    const INTERLEAVE: [i16; 32] = {
        let mut lanes = [0i16; 32];
        let mut r = 0;
        while r < 16 {
            lanes[2 * r] = r as i16;
            lanes[2 * r + 1] = 16 + r as i16;
            r += 1;
        }
        lanes
    };
    if BY_INSTRUCTIONS {
        // SAFETY: only inside `fill_by_instructions`, on a CPU with AVX512-BF16 and -BW; the
        // loads read the 16 values of each array and the 32 lanes of `INTERLEAVE`.
        return unsafe {
            let (x, y) = (
                _mm512_loadu_ps(first.as_ptr()),
                _mm512_loadu_ps(second.as_ptr()),
            );
            let both = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(y, x));
            let order = _mm512_loadu_epi16(INTERLEAVE.as_ptr());
            std::mem::transmute::<__m512i, [u32; 16]>(_mm512_permutexvar_epi16(order, both))
        };
    }
    std::array::from_fn(|r| pair(first[r], second[r]))
}

/// The first `rows` values of the column of `v` that starts at `start`, zeros after.
#[inline(always)]
fn column(v: View<f32>, start: usize, rows: usize) -> [f32; 16] {
    let mut out = [0f32; 16];
    match (v.rs, rows) {
        (1, 16) => out.copy_from_slice(&v.data[start..start + 16]),
        (rs, _) => {
            for (r, o) in out.iter_mut().enumerate().take(rows) {
                *o = v.data[start + r * rs];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{round, Right, View};

    /// SplitMix64's values in [-1, 1): operands with every bit of an f32's mantissa in use.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Rounding against the bf16 values around a few f32s, worked by hand: ties go to the even
    /// neighbour, the rest to the nearer one; infinities and NaN stay what they are.
    #[test]
    fn rounding_goes_to_the_nearest_bf16_ties_to_even() {
        let bf = |bits: u32| f32::from_bits(bits << 16);
        // 1 + 2^-8 lies halfway between 1 (even mantissa) and 1 + 2^-7: to 1.
        assert_eq!(round(1.0 + 2f32.powi(-8)), 1.0);
        // 1 + 3·2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
        assert_eq!(round(1.0 + 3.0 * 2f32.powi(-8)), 1.0 + 2f32.powi(-6));
        // Just past a half goes up; just below goes down.
        assert_eq!(round(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), bf(0x3f81));
        assert_eq!(round(-(1.0 + 2f32.powi(-8) - 2f32.powi(-20))), -1.0);
        assert_eq!(round(f32::MAX), f32::INFINITY);
        assert_eq!(round(f32::NEG_INFINITY), f32::NEG_INFINITY);
        assert!(round(f32::NAN).is_nan());
    }

    /// Packing by AVX512-BF16's instructions (rounding, pairing, transposing) gives the bits of
    /// the scalar rounding, for rows and transposed views, in both tile orders, with partial
    /// tiles. On a CPU without those instructions there is nothing to compare, and it says so.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn packing_by_instructions_equals_the_scalar_rounding() {
        use super::super::amx::{DEPTH, TILE, TILE_LEN};
        use std::arch::is_x86_feature_detected as has;
        if !(has!("avx512bf16") && has!("avx512bw")) {
            eprintln!("no AVX512-BF16 here: the scalar packing alone runs");
            return;
        }
        for (rows, cols) in [(17, 33), (48, 64), (5, 1), (32, 95)] {
            let data = values(rows * cols, 9);
            let views = [
                View::new(&data, rows, cols),
                View::new(&data, cols, rows).t(),
            ];
            for (v, vnni) in views.into_iter().flat_map(|v| [(v, false), (v, true)]) {
                let strips = v.rows.div_ceil(2 * TILE) * 2;
                let steps = v.cols.div_ceil(DEPTH);
                let mut scalar = vec![1u32; strips * steps * TILE_LEN];
                let mut by_instructions = vec![2u32; scalar.len()];
                super::fill_in::<false>(&mut scalar, 0, v, vnni, steps);
                // SAFETY: the CPU has the features (checked above).
                unsafe { super::fill_by_instructions(&mut by_instructions, 0, v, vnni, steps) };
                assert!(
                    scalar == by_instructions,
                    "{rows}×{cols}, {}, vnni {vnni}",
                    v.cs
                );
            }
        }
    }

    /// The bf16 product against a float64 loop over the same roundings: every product of two
    /// bf16 values is exact in f32, so the two differ by f32's summation alone. Shapes with
    /// edges inside a tile (1, 15, 17, 33 rows; depths 1, 31, 33, 95), transposed views, adding
    /// onto what `dst` holds, and the f32 gemm's path beside AMX's (where the CPU has it).
    #[test]
    fn bf16_products_equal_a_float64_loop_over_the_roundings() {
        for (m, k, n) in [
            (1, 1, 1),
            (15, 31, 17),
            (33, 33, 1),
            (64, 95, 40),
            (17, 64, 65),
        ] {
            for (transpose_a, transpose_b) in [(false, false), (true, false), (false, true)] {
                let (a, b) = (values(m * k, 1), values(k * n, 2));
                let va = match transpose_a {
                    false => View::new(&a, m, k),
                    true => View::new(&a, k, m).t(),
                };
                let vb = match transpose_b {
                    false => View::new(&b, k, n),
                    true => View::new(&b, n, k).t(),
                };
                let start = values(m * n, 3);
                for (accumulate, amx) in [(false, true), (true, true), (false, false)] {
                    let mut dst = start.clone();
                    Right::with(vb, amx, 2)
                        .product(&mut dst, va, accumulate)
                        .unwrap();
                    for i in 0..m {
                        for j in 0..n {
                            let mut sum = if accumulate {
                                start[i * n + j] as f64
                            } else {
                                0.0
                            };
                            for l in 0..k {
                                let x = round(va.data[i * va.rs + l * va.cs]) as f64;
                                let y = round(vb.data[l * vb.rs + j * vb.cs]) as f64;
                                sum += x * y;
                            }
                            // f32 sums of k terms of size ≤ 1: within k·2^-23 or so.
                            let got = dst[i * n + j] as f64;
                            let bound = 1e-6 * (k as f64 + 1.0);
                            assert!(
                                (got - sum).abs() <= bound,
                                "{m}×{k}×{n} ({transpose_a}, {transpose_b}, {accumulate}, {amx}) at ({i}, {j}): {got} vs {sum}"
                            );
                        }
                    }
                }
            }
        }
    }
}
