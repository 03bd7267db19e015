//! The cost of summing gradients over ranks, as `nn train` pays it at every step: a model's
//! gradients (f32) packed, summed by one `MPI_Allreduce` and put back, for gradient sizes from
//! 4 KB to 64 MB. `mpirun -np 2 target/release/examples/bench_allreduce` (built with
//! `--features mpi`); rank 0 prints one row per size.

use std::time::Instant;

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use simple_nn::dist::{sum_gradients, Session};

fn main() -> Result<()> {
    let session = Session::start()?;
    let ranks = session.ranks();
    if ranks.is_root() {
        println!(
            "{} ranks; f32 gradients in one tensor, each size timed over ~0.5 s (median)",
            ranks.size()
        );
        println!("| gradient bytes | all-reduce, ms | of which MPI_Allreduce, ms | bus GB/s (2(N-1)/N·bytes / MPI time) |");
        println!("|---:|---:|---:|---:|");
    }
    for log2 in (12..=26).step_by(2) {
        let bytes = 1usize << log2;
        let var = Var::zeros(bytes / 4, DType::F32, &Device::Cpu)?;
        let grad = Tensor::ones(bytes / 4, DType::F32, &Device::Cpu)?;
        let (mut whole, mut mpi) = (Vec::new(), Vec::new());
        let started = Instant::now();
        // The same number of repetitions on every rank: until any rank has timed enough.
        let mut reps = 0;
        loop {
            let mut grads = GradStore::default();
            grads.insert(var.as_tensor(), grad.clone());
            let t = Instant::now();
            sum_gradients(
                ranks,
                &mut grads,
                std::slice::from_ref(&var),
                0.5,
                &mut [0.0],
            )?;
            whole.push(t.elapsed().as_secs_f64());
            let mut flat = vec![1f32; bytes / 4];
            let t = Instant::now();
            ranks.sum_f32(&mut flat);
            mpi.push(t.elapsed().as_secs_f64());
            reps += 1;
            if ranks.any(reps >= 5 && started.elapsed().as_secs_f64() >= 0.5) {
                break;
            }
        }
        let median = |xs: &mut Vec<f64>| {
            xs.sort_by(f64::total_cmp);
            xs[xs.len() / 2]
        };
        let (whole, mpi) = (median(&mut whole), median(&mut mpi));
        let n = ranks.size() as f64;
        let bus = 2.0 * (n - 1.0) / n * bytes as f64 / mpi / 1e9;
        if ranks.is_root() {
            println!(
                "| {bytes} | {:.3} | {:.3} | {bus:.2} |",
                whole * 1e3,
                mpi * 1e3
            );
        }
    }
    Ok(())
}
