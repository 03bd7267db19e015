//! Products of small row-major matrices in register tiles, with ranges that change from one
//! block of rows to the next: the causal attention's `q·kᵀ`, `p·v` and their gradients, whose
//! operands (64 × 32 for nanoGPT's CPU shape) are too small for gemm's packing to pay.
//!
//! A tile is 4 rows × 16 columns of the product, summed in local arrays that the compiler keeps
//! in vector registers; the edges go through the same sums one row at a time. `a` may be read
//! transposed (`a[e][r]`), so that `dsᵀ·q` and `pᵀ·dy` need no transposed copy. Every output is
//! `Σ_e a[r][e]·b[e][j]` added in increasing `e`, one product and one sum at a time, so the bits
//! do not depend on whether a value fell in a tile or on an edge.

use super::math::{axpy, Float};

/// A row-major matrix (or its top-left corner) whose rows lie `ld` values apart.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) ld: usize,
}

const R: usize = 4;
const N: usize = 16;

/// The columns a tile covers: products are computed for whole tiles of columns.
pub(crate) const TILE_COLS: usize = N;

/// `c[r][j] = Σ_{e in ks(r0)} a[r][e]·b[e][j]` for `r < m` and `j < cols(r0)`, where `r0` is the
/// first row of `r`'s block of 4 (`c`'s rows `ldc` apart); the rest of `c` is left as it is.
/// With `TRANSPOSED`, `a[r][e]` is read at `a.data[e·a.ld + r]`.
///
/// `cols` and `ks` let a causal product skip what the mask removes: the scores of block `r0`
/// need the keys up to `r0 + 3` only, and `p·v` sums over those keys only.
#[inline(always)]
pub(crate) fn product<T: Float, const TRANSPOSED: bool>(
    c: &mut [T],
    ldc: usize,
    a: Rows<T>,
    b: Rows<T>,
    m: usize,
    cols: impl Fn(usize) -> usize,
    ks: impl Fn(usize) -> std::ops::Range<usize>,
) {
    let mut r0 = 0;
    while r0 < m {
        let rows = R.min(m - r0);
        let (n, ks) = (cols(r0), ks(r0));
        let mut j0 = 0;
        if rows == R {
            while j0 + N <= n {
                tile::<T, TRANSPOSED>(c, ldc, a, b, r0, j0, ks.clone());
                j0 += N;
            }
        }
        for r in r0..r0 + rows {
            let out = &mut c[r * ldc + j0..r * ldc + n];
            out.fill(T::zero());
            for e in ks.clone() {
                let av = a.data[at::<TRANSPOSED>(a.ld, r, e)];
                axpy(out, av, &b.data[e * b.ld + j0..e * b.ld + n]);
            }
        }
        r0 += rows;
    }
}

/// Where `a[r][e]` lies.
#[inline(always)]
fn at<const TRANSPOSED: bool>(ld: usize, r: usize, e: usize) -> usize {
    if TRANSPOSED {
        e * ld + r
    } else {
        r * ld + e
    }
}

/// One full tile: rows `r0..r0 + 4`, columns `j0..j0 + 16`.
#[inline(always)]
fn tile<T: Float, const TRANSPOSED: bool>(
    c: &mut [T],
    ldc: usize,
    a: Rows<T>,
    b: Rows<T>,
    r0: usize,
    j0: usize,
    ks: std::ops::Range<usize>,
) {
    let mut acc = [[T::zero(); N]; R];
    for e in ks {
        let Ok(row) = <&[T; N]>::try_from(&b.data[e * b.ld + j0..][..N]) else {
            return;
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            let av = a.data[at::<TRANSPOSED>(a.ld, r0 + r, e)];
            for (s, &bv) in acc.iter_mut().zip(row) {
                *s += av * bv;
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        c[(r0 + r) * ldc + j0..][..N].copy_from_slice(acc);
    }
}
