//! Matrix products on gemm for the fused kernels: strided views, one single-threaded gemm call,
//! and the split of a product's rows over the kernels' threads.

use candle_core::Result;
use gemm::Parallelism;

use super::{threads, Real};

/// A row-major matrix view: `rows × cols` with row stride `rs` and column stride `cs`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a, T> View<'a, T> {
    pub(crate) fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The same shape and strides over no data, for another slice of the same layout.
    pub(crate) fn cast<U>(self) -> View<'a, U> {
        View {
            data: &[],
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        }
    }

    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Whether every element the view addresses lies inside `data` (counted without wrapping,
    /// with strides gemm can take as `isize`).
    pub(crate) fn fits(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.rs)
            .zip((self.cols - 1).checked_mul(self.cs))
            .and_then(|(down, across)| down.checked_add(across));
        let strides = isize::try_from(self.rs).is_ok() && isize::try_from(self.cs).is_ok();
        strides && last.is_some_and(|last| last < self.data.len())
    }
}

/// gemm's f32 micro-tile height: blocks of rows split across threads are multiples of it.
pub(crate) const ROW_TILE: usize = 64;

/// `dst (a.rows × b.cols, row-major) = [dst +] a·b` with gemm.
pub(crate) fn matmul<T: Real>(
    dst: &mut [T],
    a: View<T>,
    b: View<T>,
    accumulate: bool,
) -> Result<()> {
    matmul_by_rows(dst, a, b, |_, block, rows| {
        gemm_serial(block, rows, b, accumulate)
    })
}

/// Runs `task(first_row, dst_block, a_rows)` on blocks of `dst`'s rows and the matching rows of `a`, one
/// block per thread; `task` computes its block of `a·b` (and whatever goes with it, so that a
/// block's elementwise work stays on the core whose cache holds it).
///
/// gemm splits its work over blocks of the output's larger side, and these layers' shapes
/// often give it one block: the second thread idled. Each call packs `b` anew, so blocks are
/// as few as the threads (every further block packs `b` once more) and one thread makes one
/// call. gemm sums each output element in the same order whichever block of
/// rows it lies in, so the results do not depend on the thread count (tests/example_mlp.rs
/// checks it).
pub(crate) fn matmul_by_rows<T: Real>(
    dst: &mut [T],
    a: View<T>,
    b: View<T>,
    task: impl Fn(usize, &mut [T], View<T>) -> Result<()> + Sync,
) -> Result<()> {
    check("matmul", dst.len(), a, b)?;
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let threads = threads::current();
    let block = m.div_ceil(threads.max(1)).next_multiple_of(ROW_TILE);
    if threads == 1 || m <= block || m.saturating_mul(n).saturating_mul(k) < 1 << 18 || n == 0 {
        return task(0, dst, a);
    }
    threads::for_each_chunk_mut(dst, block * n, |i, chunk| {
        let rows = View {
            data: &a.data[i * block * a.rs..],
            rows: chunk.len() / n,
            ..a
        };
        task(i * block, chunk, rows)
    })
}

/// Checks that `a·b` is defined, fills `len` elements, and that both views stay inside their
/// slices; `what` names the product in the error.
fn check<T>(what: &str, len: usize, a: View<T>, b: View<T>) -> Result<()> {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if b.rows != k || m.checked_mul(n) != Some(len) || !a.fits() || !b.fits() {
        candle_core::bail!(
            "{what}: operands do not fit ({m}×{k} by {}×{n} into {len})",
            b.rows
        )
    }
    Ok(())
}

/// One single-threaded gemm call: `dst = [dst +] a·b`, checked to stay inside every slice.
pub(crate) fn gemm_serial<T: Real>(
    dst: &mut [T],
    a: View<T>,
    b: View<T>,
    accumulate: bool,
) -> Result<()> {
    check("gemm", dst.len(), a, b)?;
    let (m, n, k) = (a.rows, b.cols, a.cols);
    // SAFETY: every element gemm reads lies inside `a.data` and `b.data` (checked by
    // `fits`), and `dst` holds exactly m·n elements, written row-major (rs = n, cs = 1).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            Parallelism::None,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::View;

    /// A view whose last row starts past `usize::MAX` is refused: the product `(rows−1)·rs`
    /// wrapped to 0 before it was checked, and gemm would have read outside the slice.
    #[test]
    fn a_view_whose_extent_overflows_does_not_fit() {
        let data = [0f32; 4];
        let wrapping = View {
            data: &data,
            rows: 3,
            cols: 1,
            rs: 1 << (usize::BITS - 1),
            cs: 1,
        };
        assert!(!wrapping.fits());
        let across = View {
            rows: 1,
            cols: 2,
            rs: 1,
            cs: usize::MAX,
            ..wrapping
        };
        assert!(!across.fits());
        // The views inside the slice still fit, up to its last element.
        assert!(View::new(&data, 2, 2).fits());
        assert!(View::new(&data, 2, 2).t().fits());
        let past_the_end = View {
            rs: 3,
            ..View::new(&data, 2, 2)
        };
        assert!(!past_the_end.fits());
    }
}
