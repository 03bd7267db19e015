//! The NCCL path (`--features nccl`, on a machine with a GPU): a group of one rank sums
//! gradients on the GPU as the host path does. The expected values are computed on the host
//! from the same numbers (a sum over one rank is the rank's own gradient times its weight).
#![cfg(feature = "nccl")]

mod common;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use simple_nn::dist::{nccl, sum_gradients, Session};

#[test]
fn one_rank_sums_its_weighted_gradients_through_nccl_on_the_gpu() {
    let dev = Device::new_cuda(0).expect("the nccl tests need a CUDA GPU");
    let session = Session::start().unwrap();
    let ranks = session.ranks();
    nccl::join(ranks, &dev).unwrap();
    assert!(nccl::joined());
    for dtype in [DType::F32, DType::F64] {
        let values = common::uniform(12, 7);
        let host = Tensor::from_vec(values.clone(), (3, 4), &Device::Cpu).unwrap();
        let grad = host.to_dtype(dtype).unwrap().to_device(&dev).unwrap();
        let (with, without) = (
            Var::zeros((3, 4), dtype, &dev).unwrap(),
            Var::zeros(5, dtype, &dev).unwrap(),
        );
        let mut grads = GradStore::default();
        grads.insert(with.as_tensor(), grad);
        let mut scalars = [1.5, 0.0];
        let vars = [with.clone(), without.clone()];
        sum_gradients(ranks, &mut grads, &vars, 0.25, &mut scalars).unwrap();
        let summed = grads.get(&with).unwrap();
        assert!(summed.device().is_cuda());
        let expected = (host * 0.25).unwrap();
        let diff = common::max_abs_diff(summed, &expected).unwrap();
        assert!(diff < 1e-6, "{dtype:?}: {diff}");
        assert!(
            grads.get(&without).is_none(),
            "a variable without a gradient got one"
        );
        assert_eq!(scalars, [1.5, 0.0]);
    }
}
